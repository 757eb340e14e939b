"""The way back: snapshot awareness, snapshot-first extensions and SCP_SNAPSHOT_POLICY."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..untrusted_text import TEXT_LIMIT, clean, quoted, short
from ._failures import _said
from ._tools import (
    plural,
)

if TYPE_CHECKING:
    from ..snapshots import WayBack

# --- Snapshots: the way back (snapshot awareness, snapshot-first, SCP_SNAPSHOT_POLICY) ---------------
# Snapshot names, ids and statuses come from the platform: data, shown through `untrusted_text` like every
# platform text.

SNAPSHOT_FIRST_DESCRIPTION: Final = (
    "Take a snapshot of the volume first, wait until it is available, and only then resize; if the snapshot "
    "fails, nothing is resized. The snapshot is the way back: restored into a new volume."
)
WAY_BACK_DESCRIPTION: Final = "Makes a new volume from the snapshot taken first: the way back after this growth."


def bounded(text: object, limit: int = TEXT_LIMIT) -> str:
    """Platform text in a sentence: `untrusted_text.clean`ed and capped (64 characters unless told)."""
    return clean(str(text), limit).text


def age_text(age_s: float) -> str:
    """`3 days`, `5 hours`, `12 minutes`, `less than a minute`."""
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if age_s >= seconds:
            return plural(int(age_s // seconds), unit)
    return "less than a minute"


def snapshot_label(name: str | None, snapshot_id: str) -> str:
    return f"{quoted(name)} ({short(snapshot_id)})" if name else short(snapshot_id)


def latest_snapshot_line(label: str, status: str, age_s: float | None, created_at: str | None) -> str:
    when = f"{age_text(age_s)} old" if age_s is not None else f"created {bounded(created_at or 'at an unknown time')}"
    return f"Way back: the latest snapshot is {label}, {quoted(status)}, {when}."


NO_SNAPSHOT_LINE: Final = (
    "No snapshot of this volume exists: after this extension there will be no way back "
    "(snapshot_first=true takes one first)."
)
NO_SNAPSHOT_LINE_OFF: Final = "No snapshot of this volume exists: after this extension there will be no way back."
SNAPSHOTS_REQUIRED_LINE: Final = "SCP_SNAPSHOT_POLICY=required: extend_volume takes a snapshot first."


def snapshots_unreadable(problem: str) -> str:
    return f"Whether a snapshot exists could not be read ({bounded(problem, 160)}): there may be no way back."


def snapshot_quota_full(in_use: int, limit: int) -> str:
    return f"the snapshot quota is full ({in_use} of {limit}): a snapshot first would be refused"


# The confirmation question's last sentence: which way back there will be.
QUESTION_SNAPSHOT_FIRST: Final = "A snapshot will be taken first."
QUESTION_NO_SNAPSHOT: Final = "No snapshot exists: there will be no way back."
QUESTION_NO_SNAPSHOT_OFFER: Final = (
    "No snapshot exists: there will be no way back, unless you choose to take a snapshot first."
)
QUESTION_SNAPSHOTS_UNKNOWN: Final = "Whether a snapshot exists could not be read: there may be no way back."


def question_latest_snapshot(age_s: float | None) -> str:
    return f"The latest snapshot is {age_text(age_s)} old." if age_s is not None else "A snapshot exists."


def snapshot_progress(label: str, status: str, elapsed: float) -> str:
    return f"snapshot {label}: {quoted(status)} after {elapsed:.1f} s"


def snapshot_starting(volume_id: str) -> str:
    return f"taking a snapshot of {volume_id} first"


def _nothing_resized(text: str) -> str:
    return f"{text} Nothing was resized."


def snapshot_refused(explained: str) -> str:
    return _nothing_resized(f"The snapshot before the extension was refused: {explained}")


def snapshot_quota_refusal(in_use: int, limit: int) -> str:
    return _nothing_resized(
        f"The snapshot quota is full ({in_use} of {limit}), so no snapshot was taken. Delete an old snapshot or "
        "ask for a larger quota."
    )


def snapshot_not_found(what: str, name: str) -> str:
    return _nothing_resized(
        f"{what}; reading the volume's snapshots back shows no snapshot named {name!r}. It was not created, or "
        "the platform is still working on it: look for it by that name before trying again."
    )


def snapshot_unknown(what: str, name: str, exc: object) -> str:
    return _nothing_resized(
        f"{what}; whether snapshot {name!r} was created is unknown, because reading the snapshots back failed "
        f"too ({_said(exc)}). Look for it by that name before trying again."
    )


def snapshot_failed(label: str, status: str) -> str:
    return _nothing_resized(
        f"Snapshot {label} went to {quoted(status)} instead of available, so there would be no way back."
    )


def snapshot_timed_out(label: str, status: str, timeout_s: float) -> str:
    return _nothing_resized(
        f"Snapshot {label} is still {quoted(status)} after {timeout_s:g} s. It may still complete: "
        "plan_volume_extension shows the volume's latest snapshot and its status; once it is available, extend "
        "again with snapshot_first=true and this server reuses it rather than taking another (a restarted server, or "
        "another replica, takes a new one)."
    )


SNAPSHOT_ID_NOT_UUID: Final = _nothing_resized(
    "SCP answered the snapshot request with an id that is not a UUID, so it cannot serve as the way back."
)


def snapshot_not_this_attempts(label: str, owner: str | None, volume_id: str, name: str) -> str:
    """SCP answered (the create, a read while waiting, the read-back) with a snapshot that is not the one this
    attempt requested: of another volume (`owner`, None when the platform does not say), or another name."""
    of = f"volume {short(owner)}" if owner else "no stated volume"
    return _nothing_resized(
        f"SCP answered with snapshot {label} of {of}, not the snapshot {name!r} requested for {volume_id}, so it "
        f"cannot serve as the way back. Look for a snapshot named {name!r} before trying again."
    )


def snapshot_unreadable(label: str, exc: object) -> str:
    return _nothing_resized(f"Reading snapshot {label} while waiting for it failed ({_said(exc)}).")


def snapshot_taken_line(label: str, policy_applied: bool, reused_age_s: float | None = None) -> str:
    """`reused_age_s`: the snapshot was taken by an earlier attempt (that old), and reused."""
    why = " (SCP_SNAPSHOT_POLICY=required)" if policy_applied else ""
    taken = "was taken first"
    if reused_age_s is not None:
        taken = f"of an earlier attempt, {age_text(reused_age_s)} old, was reused"
    restore = "restore it into a new volume with POST /v1/volumes (see way_back)"
    return f"Way back: snapshot {label} {taken}{why}; {restore}."


def snapshot_before_failure(label: str) -> str:
    return f" Snapshot {label} was taken before it: restore it into a new volume if needed."


def plan_way_back(back: WayBack, policy: str) -> str:
    """The plan's second line: which way back exists, and what the snapshot policy will do."""
    if back.problem is not None:
        line = snapshots_unreadable(back.problem)
    elif back.latest is not None:
        label = snapshot_label(back.latest.name, back.latest.id)
        line = latest_snapshot_line(label, back.latest.status, back.latest_age_s, back.latest.created_at)
    else:
        line = NO_SNAPSHOT_LINE_OFF if policy != "optional" else NO_SNAPSHOT_LINE
    if policy == "required":
        line += " " + SNAPSHOTS_REQUIRED_LINE
    if back.quota is not None and back.quota.full and back.quota.limit is not None and policy != "off":
        line += " Note: " + snapshot_quota_full(back.quota.in_use, back.quota.limit) + "."
    return line


def question_way_back(back: WayBack | None, *, offered: bool = False) -> str:
    """The confirmation question's way back; `back` None means a snapshot will be taken first; `offered`: the
    form offers to take one first."""
    if back is None:
        return QUESTION_SNAPSHOT_FIRST
    if back.problem is not None:
        return QUESTION_SNAPSHOTS_UNKNOWN
    if back.latest is None:
        return QUESTION_NO_SNAPSHOT_OFFER if offered else QUESTION_NO_SNAPSHOT
    return question_latest_snapshot(back.latest_age_s)

"""Refusals (nothing was sent) and the results of an extension, including every ambiguous-failure sentence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from ..scp import (
    ScpError,
)
from ..untrusted_text import quoted, short

if TYPE_CHECKING:
    from ..audit.open_attempts import OpenAttempt
    from ..policy import Rule
from ._failures import RUN_DOCTOR, _said
from ._snapshots import snapshot_taken_line
from ._tools import (
    IRREVERSIBLE,
    next_steps,
    size_change,
)

# --- Refusals (nothing was sent) ------------------------------------------------------------------

REASON_SHRINK: Final = "volumes can only grow: current {current} GB, requested {requested} GB"
REASON_IN_PROGRESS: Final = (
    "an extension of this volume is already in progress (state extending); wait for it to finish"
)


def reason_pending(attempt: OpenAttempt) -> str:
    """An earlier attempt whose resize may still be under way: when, where, to what size, and how it clears."""
    what = "its outcome is unknown" if attempt.outcome is None else f"its outcome was {attempt.outcome}"
    started, expires = _utc(attempt.started_at), _utc(attempt.expires_at)
    by = f" by {short(attempt.replica)}" if attempt.replica else ""
    return (
        f"an extension of this volume to {attempt.target_gb} GB is already in progress or its fate is unknown "
        f"(attempt {short(attempt.attempt_id)}, started {started}{by}; {what}). Nothing else is sent to this "
        f"volume until get_volume shows {attempt.target_gb} GB or a failed state, or until {expires}; an "
        f"operator who knows it did not apply can close it with `scp-volume-mcp audit --close "
        f"{short(attempt.attempt_id)}`"
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def under_way_note(attempt: OpenAttempt) -> str:
    """Which attempt is resizing the volume, since when and by whom (the platform's words are not in it)."""
    who = f" by {short(attempt.replica)}" if attempt.replica else ""
    said = f"attempt {short(attempt.attempt_id)}, started {_utc(attempt.started_at)}{who}"
    if attempt.outcome is not None:
        return said
    return (
        f"{said}; its outcome is unknown: if it never shows, an operator who checked it in the SCP console closes it "
        f"with `scp-volume-mcp audit --close {short(attempt.attempt_id)}`"
    )


def closed_by_read(size: int, state: str) -> str:
    return f"a read showed {size} GB, {short(state)}: the resize is no longer pending"


def audit_unreadable(problem: str) -> str:
    return (
        f"Refusing to extend: {problem} (fail closed: the audit trail records resizes that may still be under "
        "way). Nothing was sent."
    )


def reason_state(state: str) -> str:
    return f"the volume is {quoted(state)}; only available or in-use volumes can be extended"


REASON_QUOTA: Final = "{requested} GB exceeds the per-volume quota of {quota} GB"


def reason_policy(rule: Rule, current: int, target: int, grown_last_day_gb: int) -> str:
    """A limit of the team's policy file that the extension would break, named as the plan names it."""
    growth = target - current
    if rule.name == "max_size_gb":
        why = f"no volume grows beyond {rule.value} GB; {target} GB would"
    elif rule.name == "max_growth_gb":
        why = f"one extension adds at most {rule.value} GB; this one adds {growth} GB"
    else:
        why = (f"a volume grows at most {rule.value} GB in 24 hours; it grew {grown_last_day_gb} GB already "
               f"(the audit trail), and {growth} GB more would make {grown_last_day_gb + growth} GB")  # fmt: skip
    return f"{rule.label}: {why}"


def refusal(label: str, reasons: list[str]) -> str:
    return f"Not extending {label}: " + "; ".join(reasons) + ". Nothing was sent."


HUMAN_REQUIRED: Final = (
    "This server requires a human to confirm every extension (SCP_CONFIRMATION=human), and this client cannot "
    "ask one (it does not support elicitation). Nothing was sent. Use a client that supports elicitation, or "
    "have the operator set SCP_CONFIRMATION=auto or flag."
)


def consent_unknowable(protocol_version: str) -> str:
    """A 2025-era client of a stateless HTTP server: what it declared is unknown, and its form out of reach."""
    return (
        f"Not extending: this server runs stateless (serve --stateless), so with protocol version {protocol_version} "
        "it can neither know whether this client can ask a human nor send it the confirmation form, and the "
        "confirm flag alone does not decide where a human might be asked. Nothing was sent. Use a server that "
        "keeps sessions (serve without --stateless) or a client speaking protocol version 2026-07-28, or have "
        "the operator set SCP_CONFIRMATION=flag explicitly."
    )


def audit_unwritable(problem: str) -> str:
    return f"Refusing to extend: {problem} (fail closed). Nothing was sent."


def interrupted(sent: bool, size: int | None, state: str | None) -> str:
    if not sent:
        return "The call was cancelled or its client went away before any resize request was sent."
    seen = f"reading back showed {size} GB, {short(state)}" if size is not None else "reading back was not possible"
    return f"The call was cancelled or its client went away after the resize request was sent; {seen}."


MISSING_EXTEND_SCOPE = (
    "Refusing to extend: your access token lacks the scope volumes:extend (it allows lookups only). "
    "Nothing was read or sent; ask for a token with volumes:extend."
)


def coordination_unavailable(problem: str) -> str:
    return (
        f"Refusing to extend: {problem} (fail closed: without the lock another replica could resize the same "
        "volume). Nothing was sent; lookups still work. Try again later."
    )


def not_reachable(exc: ScpError) -> str:
    return f"{_said(exc)}. Nothing was sent. {RUN_DOCTOR}"


# --- Results --------------------------------------------------------------------------------------


def result_lines(outcome: str, label: str, *, previous: int, target: int, observed: int, state: str,
                 note: str | None, steps: list[str] | None = None, snapshot_label: str | None = None,
                 snapshot_required: bool = False, snapshot_reused_age_s: float | None = None) -> list[str]:  # fmt: skip
    """`steps`: the result's `next_steps` (see `next_steps`). `snapshot_label`: the snapshot taken first, whose
    way-back line takes the place of the generic "only way back is a snapshot" line (at most 3 lines)."""
    lines = _result_lines(outcome, label, previous=previous, target=target, observed=observed, state=state,
                          note=note, steps=steps)  # fmt: skip
    if snapshot_label is None:
        return lines
    line = snapshot_taken_line(snapshot_label, snapshot_required, snapshot_reused_age_s)
    if IRREVERSIBLE in lines:
        return [line if existing == IRREVERSIBLE else existing for existing in lines]
    return [*lines[:2], line]


def _result_lines(outcome: str, label: str, *, previous: int, target: int, observed: int, state: str,
                  note: str | None, steps: list[str] | None) -> list[str]:  # fmt: skip
    change = size_change(previous, target)
    step, irreversible = steps or next_steps([], completed=outcome == "completed")
    if outcome == "completed":
        return [f"Extended {label}: {change}; it is {short(state)}.", step, irreversible]
    if outcome == "accepted":
        return [
            f"SCP accepted extending {label}: {change}; it is {short(state)} at {observed} GB for now.",
            f"{note} Wait until get_volume shows {target} GB before growing the partition." if note else step,
            irreversible,
        ]
    if outcome == "unchanged":
        return [f"{label} already has {target} GB: nothing was sent."]
    if outcome == "under_way":
        return [f"A resize of {label} to {target} GB is already under way ({note}): nothing more was sent.",
                f"Watch it with get_volume until it shows {target} GB."]  # fmt: skip
    if outcome == "declined" and note:
        return [f"The confirmation form came back with {note} for extending {label} to {target} GB (confirm was "
                "not true): nothing was sent."]  # fmt: skip
    if outcome == "declined":
        return [f"The user declined extending {label} to {target} GB: nothing was sent."]
    return [f"Extending {label} to {target} GB was cancelled: nothing was sent."]


def unreadable_answer(status: int) -> str:
    return f"SCP answered {status} with an unreadable body; the state shown was read back."


def unreadable_answer_context(status: int) -> str:
    return f"SCP accepted the request ({status}) but its answer was unreadable"


def read_back_failed(what: str, target: int, exc: ScpError, attempt_id: str) -> str:
    return (
        f"{what}; whether the resize to {target} GB was applied is unknown, because reading the volume back "
        f"failed too ({_said(exc)}). The resize may be under way: get_volume shows it. No other resize of this "
        f"volume is sent until it shows {target} GB or a failed state, or an operator closes attempt "
        f"{short(attempt_id)} (scp-volume-mcp audit --close {short(attempt_id)})."
    )


def lost_answer(exc: ScpError) -> str:
    """The resize request left and its answer did not say what happened (a 5xx, a timeout, a drop)."""
    return f"{_said(exc)} after the resize request left (the platform may have applied it)"


def dropped_then_applied(exc: ScpError) -> str:
    return f"{_said(exc)}; reading the volume back shows the resize was applied."


def dropped_then_failed(exc: ScpError, state: str, size: int) -> str:
    return (
        f"{_said(exc)}; reading the volume back shows it is {short(state)} at {size} GB. "
        "Check it in the SCP console before trying again."
    )


def dropped_in_progress(exc: ScpError, state: str) -> str:
    return f"{_said(exc)}; reading the volume back shows the resize in progress ({short(state)})."


def fate_unknown(exc: ScpError, state: str, size: int, target: int, attempt_id: str) -> str:
    """The resize request left and its answer was lost; a read still shows the old size. That proves nothing (an
    attached volume stays in-use at its old size while it grows; the platform may not have processed it yet)."""
    return (
        f"{_said(exc)}. The volume still shows {size} GB, {short(state)}, which does not tell whether the resize "
        f"to {target} GB was applied: it may be under way, and nothing was sent again. No other resize of this "
        f"volume is sent until get_volume shows {target} GB or a failed state, or an operator who checked it in "
        f"the SCP console closes attempt {short(attempt_id)} (scp-volume-mcp audit --close {short(attempt_id)})."
    )


def wait_progress(state: str, size: int, target: int, elapsed: float) -> str:
    return f"{short(state)}, {size} GB of {target} GB after {elapsed:.1f} s"


def extension_failed(volume_id: str, state: str, size: int) -> str:
    return (
        f"The extension of {volume_id} failed: the volume is {short(state)} at {size} GB. Check it in the SCP console; "
        "a snapshot restored into a new volume is the way back."
    )


def still_working(state: str, size: int, timeout_s: float) -> str:
    return (
        f"Still {short(state)} at {size} GB after {timeout_s:g} s; the request was accepted and the platform is still "
        "working. Check later with get_volume."
    )


def wait_read_failed(exc: ScpError) -> str:
    return f"The request was accepted, but reading the volume while waiting failed ({_said(exc)})."

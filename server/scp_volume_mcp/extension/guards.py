"""The rules an extension must pass before anything is sent. Pure functions, shared by plan and extend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .. import messages
from ..audit.open_attempts import OpenAttempt
from ..policy import Policy
from ..scp import EXTENDABLE_STATES, EXTENDING_STATES, MAX_VOLUME_SIZE_GB, MIN_EXTEND_TARGET_GB, SIZE_STEP_GB, Volume

Verdict = Literal["extend", "unchanged", "under_way", "refused"]


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    """One code per reason (see `models.Refusal`): shrink, size, pending, in_progress, state, quota, policy."""
    under_way: OpenAttempt | None = None
    """For `under_way`: the open attempt resizing the volume to the size asked."""


def is_valid_size(new_size_gb: int) -> bool:
    """A size `extend_volume`'s schema takes: at least 16, a multiple of 8, at most the platform's largest."""
    return MIN_EXTEND_TARGET_GB <= new_size_gb <= MAX_VOLUME_SIZE_GB and new_size_gb % SIZE_STEP_GB == 0


@dataclass(frozen=True)
class PolicyFacts:
    """The team's policy (`policy.Policy`) and what it needs to judge one volume: its growth in the last 24
    hours as the audit trail counts it."""

    policy: Policy
    grown_last_day_gb: int = 0


def assess_extension(
    volume: Volume,
    new_size_gb: int,
    per_volume_quota_gb: int | None,
    pending: OpenAttempt | None = None,
    policy: PolicyFacts | None = None,
) -> Assessment:
    """Judge growing `volume` to `new_size_gb`, in the order the user needs to hear about it. `pending`:
    an earlier attempt whose resize may still be under way (see `ResizeLedger.blocking_attempt`); `policy`:
    the limits of the team's policy file. A size `extend_volume` would refuse as an argument is refused here
    too, even the volume's own size, so that the plan says what the extension would. Asking again for the size
    an open attempt is resizing it to is `under_way`: no error, and nothing more is sent."""
    current = volume.size
    if new_size_gb < current:
        return Assessment(
            "refused", [messages.REASON_SHRINK.format(current=current, requested=new_size_gb)], ["shrink"]
        )
    found: list[tuple[str, str]] = []
    if not is_valid_size(new_size_gb):
        found.append(("size", messages.size_hint(new_size_gb, current, per_volume_quota_gb)))
    if new_size_gb == current:
        return _judged(found) if found else Assessment("unchanged")
    if pending is not None and pending.target_gb == new_size_gb and not found:
        return Assessment(
            "under_way", under_way=pending
        )  # asked again for the size under way: nothing more to send, no error
    if pending is not None:
        found.append(("pending", messages.reason_pending(pending)))
    elif volume.state in EXTENDING_STATES:
        found.append(("in_progress", messages.REASON_IN_PROGRESS))
    elif volume.state not in EXTENDABLE_STATES:
        found.append(("state", messages.reason_state(volume.state)))
    if per_volume_quota_gb is not None and new_size_gb > per_volume_quota_gb:
        found.append(("quota", messages.REASON_QUOTA.format(requested=new_size_gb, quota=per_volume_quota_gb)))
    found += _policy_reasons(current, new_size_gb, policy)
    return _judged(found) if found else Assessment("extend")


def _policy_reasons(current: int, new_size_gb: int, facts: PolicyFacts | None) -> Sequence[tuple[str, str]]:
    if facts is None:
        return []
    grown = facts.grown_last_day_gb
    broken = facts.policy.broken_limits(current, new_size_gb, grown)
    return [("policy", messages.reason_policy(rule, current, new_size_gb, grown)) for rule in broken]


def _judged(found: list[tuple[str, str]]) -> Assessment:
    return Assessment("refused", [reason for _, reason in found], [code for code, _ in found])

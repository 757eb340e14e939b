"""The rules an extension must pass before anything is sent. Pure functions, shared by plan and extend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from . import messages
from .scp import EXTENDABLE_STATES, EXTENDING_STATES, MIN_VOLUME_SIZE_GB, SIZE_STEP_GB, Volume

if TYPE_CHECKING:
    from .audit.open_attempts import OpenAttempt

Verdict = Literal["extend", "unchanged", "refused"]


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)


def assess_extension(
    volume: Volume, new_size_gb: int, per_volume_quota_gb: int | None, pending: OpenAttempt | None = None
) -> Assessment:
    """Judge growing `volume` to `new_size_gb`, in the order the user needs to hear about it. `pending`:
    an earlier attempt whose resize may still be under way (see `ResizeLedger.blocking_attempt`)."""
    current = volume.size
    if new_size_gb < current:
        return Assessment("refused", [messages.REASON_SHRINK.format(current=current, requested=new_size_gb)])
    if new_size_gb == current:
        return Assessment("unchanged")
    reasons: list[str] = []
    if new_size_gb < MIN_VOLUME_SIZE_GB or new_size_gb % SIZE_STEP_GB:
        reasons.append(messages.size_hint(new_size_gb, current))
    if pending is not None:
        reasons.append(messages.reason_pending(pending))
    elif volume.state in EXTENDING_STATES:
        reasons.append(messages.REASON_IN_PROGRESS)
    elif volume.state not in EXTENDABLE_STATES:
        reasons.append(messages.reason_state(volume.state))
    if per_volume_quota_gb is not None and new_size_gb > per_volume_quota_gb:
        reasons.append(messages.REASON_QUOTA.format(requested=new_size_gb, quota=per_volume_quota_gb))
    return Assessment("refused", reasons) if reasons else Assessment("extend")

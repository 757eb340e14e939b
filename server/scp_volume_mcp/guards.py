"""The rules an extension must pass before anything is sent. Pure functions, shared by plan and extend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .consts import EXTENDABLE_STATES, EXTENDING_STATE, MIN_VOLUME_SIZE_GB, SIZE_STEP_GB
from .scp import Volume


@dataclass(frozen=True)
class Assessment:
    verdict: Literal["extend", "unchanged", "refused"]
    reasons: list[str] = field(default_factory=list)


def assess_extension(volume: Volume, new_size_gb: int, per_volume_quota_gb: int | None) -> Assessment:
    """Judge growing `volume` to `new_size_gb`, in the order the user needs to hear about it."""
    current = volume.size
    if new_size_gb < current:
        return Assessment("refused", [f"volumes can only grow: current {current} GB, requested {new_size_gb} GB"])
    if new_size_gb == current:
        return Assessment("unchanged")
    reasons: list[str] = []
    if new_size_gb < MIN_VOLUME_SIZE_GB or new_size_gb % SIZE_STEP_GB:
        lower = new_size_gb - new_size_gb % SIZE_STEP_GB
        upper = lower + SIZE_STEP_GB
        options = f"{upper} GB" if lower <= current else f"{lower} or {upper} GB"
        reasons.append(f"sizes must be multiples of {SIZE_STEP_GB} GB: try {options}")
    if volume.state == EXTENDING_STATE:
        reasons.append("an extension of this volume is already in progress (state extending); wait for it to finish")
    elif volume.state not in EXTENDABLE_STATES:
        reasons.append(f"the volume is {volume.state}; only available or in-use volumes can be extended")
    if per_volume_quota_gb is not None and new_size_gb > per_volume_quota_gb:
        reasons.append(f"{new_size_gb} GB exceeds the per-volume quota of {per_volume_quota_gb} GB")
    return Assessment("refused", reasons) if reasons else Assessment("extend")

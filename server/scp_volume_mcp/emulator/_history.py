"""The emulator's record of every resize it accepted and when (wall-clock time) it took effect: what a
randomized fault history is checked against (no resize accepted while an earlier one has not taken effect;
accepted sizes only grow)."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class AcceptedResize:
    volume_id: str
    size: int
    accepted_at: float
    """`time.time()` when the platform accepted it."""
    took_effect_at: float | None = None
    """When the volume showed the size; None while pending, or for good when a later resize replaced it or the
    extension ended in an error state."""


class ResizeHistory:
    """Accepted resizes in the order they were accepted, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted: list[AcceptedResize] = []

    def accepted(self, volume_id: str, size: int, at: float) -> AcceptedResize:
        record = AcceptedResize(volume_id, size, at)
        with self._lock:
            self._accepted.append(record)
        return record

    def entries(self) -> list[AcceptedResize]:
        with self._lock:
            return [AcceptedResize(r.volume_id, r.size, r.accepted_at, r.took_effect_at) for r in self._accepted]

    def clear(self) -> None:
        with self._lock:
            self._accepted.clear()

"""The emulator's snapshots: created `creating`, then `available` (or `error`) after `snapshot_seconds`, newest
first when listed, as the platform sorts them. Safe to use from any thread."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ._seed import iso_time


class SnapshotTiming(Protocol):
    """What the store reads of the emulator's settings (`_state.EmulatorSettings`)."""

    @property
    def snapshot_seconds(self) -> float: ...

    @property
    def snapshot_outcome(self) -> str: ...


class SnapshotStore:
    """Snapshots by id, and when each one still being created settles (on the state's clock)."""

    def __init__(self, settings: Callable[[], SnapshotTiming], clock: Callable[[], float]) -> None:
        self._settings, self._clock = settings, clock
        self._lock = threading.Lock()
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._done: dict[str, tuple[float, str]] = {}

    def reset(self, seeded: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._snapshots = {s["id"]: copy.deepcopy(dict(s)) for s in seeded}
            self._done.clear()

    def _settle(self, snapshot_id: str) -> None:
        done = self._done.get(snapshot_id)
        if done is not None and self._clock() >= done[0]:
            snapshot = self._snapshots[snapshot_id]
            snapshot["status"] = done[1]
            snapshot["updated_at"] = iso_time(time.time())
            del self._done[snapshot_id]

    def list(self, volume_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            for snapshot_id in list(self._done):
                self._settle(snapshot_id)
            found = [copy.deepcopy(s) for s in self._snapshots.values() if volume_id in (None, s["volume_id"])]
        return sorted(found, key=lambda s: s["created_at"], reverse=True)

    def get(self, snapshot_id: str) -> dict[str, Any] | None:
        with self._lock:
            if snapshot_id not in self._snapshots:
                return None
            self._settle(snapshot_id)
            return copy.deepcopy(self._snapshots[snapshot_id])

    def start(self, volume: Mapping[str, Any], name: str, description: str | None) -> dict[str, Any]:
        now = iso_time(time.time())
        snapshot = {
            "id": str(uuid.uuid4()),
            "volume_id": volume["id"],
            "size": volume["size"],
            "status": "creating",
            "name": name,
            "description": description,
            "created_at": now,
            "updated_at": now,
            "user_id": volume.get("user_id"),
            "metadata": {},
        }
        settings = self._settings()
        with self._lock:
            self._snapshots[snapshot["id"]] = snapshot
            self._done[snapshot["id"]] = (self._clock() + settings.snapshot_seconds, settings.snapshot_outcome)
            self._settle(snapshot["id"])
            return copy.deepcopy(self._snapshots[snapshot["id"]])

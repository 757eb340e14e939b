"""The emulator's world: volumes, resizes under way, snapshots and quota, with its settings; beside it the
injected faults (`_faults`) and the journal of requests received (`_journal`).

The world sits behind one lock, because the HTTP server runs on its own thread while tests and
rehearsal scripts read it and change it from theirs.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..scp import API_VERSIONS, EXTENDING_STATE
from ._defaults import DEFAULT_MAX_VOLUME_GB, EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY
from ._faults import Fault, FaultList
from ._history import AcceptedResize, ResizeHistory
from ._journal import Journal, JournalEntry
from ._seed import default_snapshots, default_volumes
from ._snapshots import SnapshotStore

LIMIT_MISSING: Final = "<missing>"
"""`per_volume_limit` value that leaves `limit` out of the quota answer."""
SELF_URL: Final = "{self}"
"""In an endpoint catalog entry's url: the emulator's own base URL (as the client reached it)."""


def default_endpoint_catalog() -> list[dict[str, str]]:
    """What `GET /v1/endpoints` lists: this emulator as kr-west1's Virtual Server, and other services."""
    return [
        {"region": "kr-west1", "service_type": "scp-virtualserver", "service_name": "virtualserver", "url": SELF_URL},
        {
            "region": "kr-west1",
            "service_type": "scp-objectstorage",
            "service_name": "objectstorage",
            "url": "https://objectstorage.kr-west1.e.samsungsdscloud.com",
        },
        {
            "region": "kr-west1",
            "service_type": "scp-iam",
            "service_name": "iam",
            "url": "https://iam.e.samsungsdscloud.com",
        },
    ]


@dataclass
class _PendingResize:
    """An accepted resize the platform is still working on."""

    target_size: int
    previous_state: str
    done_at: float
    record: AcceptedResize
    effect_wall_time: float
    """`time.time()` at which it takes effect (`done_at` is on the state's own clock)."""


@dataclass
class EmulatorSettings:
    access_key: str = EMULATOR_ACCESS_KEY
    secret_key: str = field(default=EMULATOR_SECRET_KEY, repr=False)
    timestamp_window_s: float | None = 15 * 60
    """Reject timestamps further than this from the emulator's clock; None turns the check off."""
    extend_seconds: float = 0.0
    """How long a volume stays extending after an accepted PUT (0: done at once)."""
    attached_stays_in_use: bool = False
    """Keep attached (`in-use`) volumes `in-use` while they extend, as the platform may."""
    clock_offset_s: float = 0.0
    """How far the emulator's clock is from this machine's (its `Date` header and timestamp check)."""
    per_volume_limit_gb: Any = DEFAULT_MAX_VOLUME_GB
    """What the quota set answers as `per_volume_size.limit`, verbatim: a number, `-1`, `0`, `""`, None, text,
    or `LIMIT_MISSING` to leave the key out. A positive integer is also enforced as the quota."""
    max_volume_size_gb: int = DEFAULT_MAX_VOLUME_GB
    """The platform's own largest volume, enforced whatever the quota says."""
    volumes_limit: int = 100
    accepted_versions: frozenset[str] = frozenset(API_VERSIONS)
    """Versions the `Scp-Api-Version` header may name; others get `406 NoSuchVersion` (as seen on SCP)."""
    extension_ends_in: str | None = None
    """When set, an accepted extension ends in this state at the old size (e.g. `error_extending`)."""
    concurrent_resizes: Literal["refuse", "accept"] = "refuse"
    """A resize while another is under way: `refuse` (409) or `accept` it (the new target replaces the old), as a
    platform might; `accept` lets a randomized history see a second resize a server should never have sent."""
    endpoint_catalog: list[dict[str, Any]] = field(default_factory=default_endpoint_catalog)
    """The entries `GET /v1/endpoints` answers (`{self}` in a url is the emulator's own URL)."""
    snapshot_seconds: float = 0.3
    """How long a new snapshot stays `creating` before it becomes available (or fails)."""
    snapshot_outcome: Literal["available", "error"] = "available"
    """What a new snapshot becomes after `snapshot_seconds` (`error` rehearses a failed snapshot)."""
    snapshots_limit: Any = 10
    """The `snapshots` entry's `limit` in the quota set, answered verbatim (`-1`, `""`, null: none stated). A
    positive integer is enforced: creating one more snapshot is refused (413, as Cinder answers)."""
    latency_s: float = 0.0
    """How long every answer of the volume API waits before it is made (a region away: tens to hundreds of
    ms). The control routes answer at once."""


class EmulatorState:
    """Volumes, snapshots and quota, safe to use from any thread; `faults` waiting to be injected and the
    `journal` of requests received."""

    def __init__(
        self,
        volumes: Iterable[Mapping[str, Any]] | None = None,
        settings: EmulatorSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.initial_settings = copy.deepcopy(self.settings)
        """What `POST /_emulator/reset` restores (the settings it was started with)."""
        self._clock = clock
        self._lock = threading.Lock()
        self._initial = [copy.deepcopy(dict(v)) for v in (default_volumes() if volumes is None else volumes)]
        self._seeded_snapshots = volumes is None
        self.snapshot_store = SnapshotStore(lambda: self.settings, clock)
        self._volumes: dict[str, dict[str, Any]] = {}
        self._resizing: dict[str, _PendingResize] = {}
        self.faults = FaultList()
        self.journal = Journal()
        self.history = ResizeHistory()
        self.reset()

    def reset(self) -> None:
        """Back to the seeded volumes, with no faults and an empty journal."""
        with self._lock:
            self._volumes = {v["id"]: copy.deepcopy(v) for v in self._initial}
            self._resizing.clear()
        # Made afresh: the seeded snapshot is "three days old" at every reset, however long the emulator has run.
        self.snapshot_store.reset(default_snapshots() if self._seeded_snapshots else [])
        self.faults.clear()
        self.journal.clear()
        self.history.clear()

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def requests(self, method: str | None = None, route: str | None = None) -> list[JournalEntry]:
        return self.journal.requests(method, route)

    # --- volumes --------------------------------------------------------------------------------

    def _settle(self, volume_id: str) -> None:
        pending = self._resizing.get(volume_id)
        if pending is not None and self._clock() >= pending.done_at:
            volume = self._volumes[volume_id]
            if self.settings.extension_ends_in is None:
                volume["size"] = pending.target_size
                volume["state"] = pending.previous_state
                pending.record.took_effect_at = pending.effect_wall_time
            else:
                volume["state"] = self.settings.extension_ends_in
            del self._resizing[volume_id]

    def get(self, volume_id: str) -> dict[str, Any] | None:
        with self._lock:
            if volume_id not in self._volumes:
                return None
            self._settle(volume_id)
            return copy.deepcopy(self._volumes[volume_id])

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            for volume_id in list(self._resizing):
                self._settle(volume_id)
            return [copy.deepcopy(v) for v in self._volumes.values()]

    def page(
        self, *, name: str | None, state: str | None, marker: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]] | None:
        """One page of the volume list, filtered as the API filters (`name`, `state`), after `marker`: the number
        that match and copies of the page's volumes only (None: the marker is not among them). A page of 20 out
        of 10,000 copies 20."""
        with self._lock:
            for volume_id in list(self._resizing):
                self._settle(volume_id)
            matching = [
                v
                for v in self._volumes.values()
                if (not name or v.get("name") == name) and (not state or v.get("state") == state)
            ]
            if marker:
                after = next((n for n, v in enumerate(matching) if v["id"] == marker), None)
                if after is None:
                    return None
                matching = matching[after + 1 :]
            return len(matching), [copy.deepcopy(v) for v in matching[offset : offset + limit]]

    def resizing(self, volume_id: str) -> bool:
        """Whether an accepted resize of the volume is still under way."""
        with self._lock:
            if volume_id in self._volumes:
                self._settle(volume_id)
            return volume_id in self._resizing

    def put(self, volume: Mapping[str, Any]) -> None:
        """Add or replace a volume (tests and rehearsals)."""
        with self._lock:
            self._volumes[volume["id"]] = copy.deepcopy(dict(volume))
            self._resizing.pop(volume["id"], None)

    def quota(self) -> dict[str, Any]:
        volumes = self.all()
        used = sum(int(v.get("size", 0)) for v in volumes)
        per_volume: dict[str, Any] = {"in_use": 0, "reserved": 0}
        if self.settings.per_volume_limit_gb != LIMIT_MISSING:
            per_volume["limit"] = self.settings.per_volume_limit_gb
        return {
            "id": "fc7283354c6143a58629b59f4c3e16b2",
            "per_volume_size": per_volume,
            "volumes": {"limit": self.settings.volumes_limit, "in_use": len(volumes), "reserved": 0},
            "snapshots": {"limit": self.settings.snapshots_limit, "in_use": len(self.snapshots()), "reserved": 0},
            "usages": {"limit": 102400, "in_use": used, "reserved": 0},
        }

    def start_extension(self, volume_id: str, size: int) -> dict[str, Any]:
        """Accept an extension (the caller has validated it) and return the volume as it now is."""
        with self._lock:
            volume = self._volumes[volume_id]
            replaced = self._resizing.get(volume_id)  # only with `concurrent_resizes="accept"`
            previous_state = replaced.previous_state if replaced is not None else volume["state"]
            now, delay = time.time(), self.settings.extend_seconds
            record = self.history.accepted(volume_id, size, now)
            self._resizing[volume_id] = _PendingResize(size, previous_state, self._clock() + delay, record, now + delay)
            volume["modified_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if not (previous_state == "in-use" and self.settings.attached_stays_in_use):
                volume["state"] = EXTENDING_STATE
            self._settle(volume_id)
            return copy.deepcopy(volume)

    # --- snapshots (kept by `_snapshots.SnapshotStore`) ---------------------------------------------

    def snapshots(self, volume_id: str | None = None) -> list[dict[str, Any]]:
        """The snapshots (of one volume), newest first, as the platform sorts them by default."""
        return self.snapshot_store.list(volume_id)

    def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        return self.snapshot_store.get(snapshot_id)

    def start_snapshot(self, volume: Mapping[str, Any], name: str, description: str | None) -> dict[str, Any]:
        """Accept a snapshot (the caller has validated it): `creating` for `snapshot_seconds`."""
        return self.snapshot_store.start(volume, name, description)

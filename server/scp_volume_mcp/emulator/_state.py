"""The emulator's world: volumes, quota, injected faults and the journal of requests received.

All of it sits behind one lock, because the HTTP server runs on its own thread while tests and
rehearsal scripts read the journal and add faults from theirs.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..scp import API_VERSIONS, EXTENDING_STATE
from ._seed import default_snapshots, default_volumes, iso_time

EMULATOR_ACCESS_KEY: Final = "emulator-access-key"
EMULATOR_SECRET_KEY: Final = "emulator-secret-key"  # noqa: S105 - the emulator's published demo key
DEFAULT_PORT: Final = 8765

DEFAULT_MAX_VOLUME_GB: Final = 12288
"""Virtual Server data volumes reach about 12 TB (12,288 GB); 16,384 GB is the bare-metal limit."""
LIMIT_MISSING: Final = "<missing>"
"""`per_volume_limit` value that leaves `limit` out of the quota answer."""
SELF_URL: Final = "{self}"
"""In an endpoint catalog entry's url: the emulator's own base URL (as the client reached it)."""

Route = Literal["list", "show", "extend", "quota", "endpoints", "snapshot", "snapshots", "snapshot_show", "*"]
ROUTES: tuple[Route, ...] = (
    "list", "show", "extend", "quota", "endpoints", "snapshot", "snapshots", "snapshot_show", "*"
)  # fmt: skip
"""`snapshot` is POST /v1/snapshots; `snapshots` the list (GET /v1/snapshots); `snapshot_show` one snapshot."""


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
class Fault:
    """What to do instead of (or besides) the normal answer, for the next `count` requests of a route
    (after letting `skip` of them through untouched).

    - `status`: answer with this status and an SCP-style error body (429, 500, 503, 409, 401...).
    - `latency_s`: wait this long before answering (combine with a client timeout for a timeout).
    - `drop`: start the answer, then close the connection mid-body.
    - `malformed`: answer the normal status with a body that is not valid JSON.
    - `body`: answer the normal status with this exact JSON value (e.g. a 202 that is not a volume).
    - `detail`: with `status`, the error body's detail text (rehearse hostile or huge platform text).
    - `apply`: for `extend` and `snapshot`, whether the extension (the snapshot) takes effect behind the
      fault. By default it does not behind a `status` fault, and it does behind the others (the normal
      answer is made, then delayed, dropped or mangled).
    """

    route: Route
    count: int = 1
    status: int | None = None
    latency_s: float = 0.0
    drop: bool = False
    malformed: bool = False
    body: Any = None
    detail: str | None = None
    apply: bool | None = None
    retry_after: float | None = None
    skip: int = 0

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; use one of {', '.join(ROUTES)}")
        if self.count < 1:
            raise ValueError("a fault applies to at least one request")


@dataclass(frozen=True)
class JournalEntry:
    """One request as the emulator received it."""

    method: str
    path: str
    query: str
    route: str
    version_header: str | None
    body: Any
    signature_valid: bool
    status: int
    request_id: str
    time: float
    peer: str
    """The client's address and port: one value across requests means one kept-alive connection."""


@dataclass
class _PendingResize:
    """An accepted resize the platform is still working on."""

    target_size: int
    previous_state: str
    done_at: float


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
    endpoint_catalog: list[dict[str, Any]] = field(default_factory=default_endpoint_catalog)
    """The entries `GET /v1/endpoints` answers (`{self}` in a url is the emulator's own URL)."""
    snapshot_seconds: float = 0.3
    """How long a new snapshot stays `creating` before it becomes available (or fails)."""
    snapshot_outcome: Literal["available", "error"] = "available"
    """What a new snapshot becomes after `snapshot_seconds` (`error` rehearses a failed snapshot)."""
    snapshots_limit: Any = 10
    """The `snapshots` entry's `limit` in the quota set, answered verbatim (`-1`, `""`, null: none stated). A
    positive integer is enforced: creating one more snapshot is refused (413, as Cinder answers)."""


class EmulatorState:
    """Volumes, quota, faults and journal, safe to use from any thread."""

    def __init__(
        self,
        volumes: Iterable[Mapping[str, Any]] | None = None,
        settings: EmulatorSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._initial = [copy.deepcopy(dict(v)) for v in (default_volumes() if volumes is None else volumes)]
        self._initial_snapshots = default_snapshots() if volumes is None else []
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._snapshot_done: dict[str, tuple[float, str]] = {}
        self._volumes: dict[str, dict[str, Any]] = {}
        self._resizing: dict[str, _PendingResize] = {}
        self._faults: list[Fault] = []
        self._journal: list[JournalEntry] = []
        self._in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Back to the seeded volumes, with no faults and an empty journal."""
        with self._lock:
            self._volumes = {v["id"]: copy.deepcopy(v) for v in self._initial}
            self._resizing.clear()
            self._snapshots = {s["id"]: copy.deepcopy(s) for s in self._initial_snapshots}
            self._snapshot_done.clear()
            self._faults.clear()
            self._journal.clear()

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until no request is being served (a slow injected fault may still be running)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self._in_flight == 0:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    # --- faults and journal ---------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route in (route, "*"):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
        return None

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._journal.append(entry)

    @property
    def journal(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._journal)

    def requests(self, method: str | None = None, route: str | None = None) -> list[JournalEntry]:
        return [
            e for e in self.journal if (method is None or e.method == method) and (route is None or e.route == route)
        ]

    # --- volumes --------------------------------------------------------------------------------

    def _settle(self, volume_id: str) -> None:
        pending = self._resizing.get(volume_id)
        if pending is not None and self._clock() >= pending.done_at:
            volume = self._volumes[volume_id]
            if self.settings.extension_ends_in is None:
                volume["size"] = pending.target_size
                volume["state"] = pending.previous_state
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
            previous_state = volume["state"]
            self._resizing[volume_id] = _PendingResize(
                size, previous_state, self._clock() + self.settings.extend_seconds
            )
            volume["modified_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if not (previous_state == "in-use" and self.settings.attached_stays_in_use):
                volume["state"] = EXTENDING_STATE
            self._settle(volume_id)
            return copy.deepcopy(volume)

    # --- snapshots ------------------------------------------------------------------------------

    def _settle_snapshot(self, snapshot_id: str) -> None:
        done = self._snapshot_done.get(snapshot_id)
        if done is not None and self._clock() >= done[0]:
            snapshot = self._snapshots[snapshot_id]
            snapshot["status"] = done[1]
            snapshot["updated_at"] = iso_time(time.time())
            del self._snapshot_done[snapshot_id]

    def snapshots(self, volume_id: str | None = None) -> list[dict[str, Any]]:
        """The snapshots (of one volume), newest first, as the platform sorts them by default."""
        with self._lock:
            for snapshot_id in list(self._snapshot_done):
                self._settle_snapshot(snapshot_id)
            found = [copy.deepcopy(s) for s in self._snapshots.values() if volume_id in (None, s["volume_id"])]
        return sorted(found, key=lambda s: s["created_at"], reverse=True)

    def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        with self._lock:
            if snapshot_id not in self._snapshots:
                return None
            self._settle_snapshot(snapshot_id)
            return copy.deepcopy(self._snapshots[snapshot_id])

    def start_snapshot(self, volume: Mapping[str, Any], name: str, description: str | None) -> dict[str, Any]:
        """Accept a snapshot (the caller has validated it): `creating` for `snapshot_seconds`."""
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
        with self._lock:
            self._snapshots[snapshot["id"]] = snapshot
            done_at = self._clock() + self.settings.snapshot_seconds
            self._snapshot_done[snapshot["id"]] = (done_at, self.settings.snapshot_outcome)
            self._settle_snapshot(snapshot["id"])
            return copy.deepcopy(self._snapshots[snapshot["id"]])

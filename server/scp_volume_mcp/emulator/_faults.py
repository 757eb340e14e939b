"""The emulator's injected faults: what a route answers instead of (or besides) its normal answer, for its
next few requests. Safe to use from any thread (the HTTP server takes them on its own)."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any, Literal

Route = Literal["list", "show", "extend", "quota", "endpoints", "snapshot", "snapshots", "snapshot_show", "*"]
ROUTES: tuple[Route, ...] = (
    "list", "show", "extend", "quota", "endpoints", "snapshot", "snapshots", "snapshot_show", "*"
)  # fmt: skip
"""`snapshot` is POST /v1/snapshots; `snapshots` the list (GET /v1/snapshots); `snapshot_show` one snapshot."""


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


class FaultList:
    """The faults waiting for their requests, in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, route: str) -> Fault | None:
        """The first fault for the route (or for every route) that applies to this request, counted off."""
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

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

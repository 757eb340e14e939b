"""The emulator's journal: every request it received, in order, and how many it is serving right now.
Safe to use from any thread (the HTTP server records on its own; tests read from theirs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload


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


class Journal(Sequence[JournalEntry]):
    """The requests received, oldest first: read it as a sequence (each read sees the entries of that
    moment), or take a copy with `entries()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []
        self._in_flight = 0

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def requests(self, method: str | None = None, route: str | None = None) -> list[JournalEntry]:
        """The entries with this method and route (either left out: any)."""
        return [
            e for e in self.entries() if (method is None or e.method == method) and (route is None or e.route == route)
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> JournalEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[JournalEntry]: ...

    def __getitem__(self, index: int | slice) -> JournalEntry | list[JournalEntry]:
        with self._lock:
            return self._entries[index]

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """How many requests are being served right now."""
        with self._lock:
            return self._in_flight

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

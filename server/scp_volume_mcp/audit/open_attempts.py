"""Which attempts may still have a resize under way: the durable pending state, read from the trail itself.

An attempt is open when it has an intent, no `close` record, and either no outcome (the process stopped
between the two: "outcome unknown") or an outcome whose `resize_pending` is true (SCP accepted a resize that
no read has shown yet, or its fate is unknown). An open attempt younger than `PENDING_TTL_S` blocks every
other resize of its volume, in every process and replica sharing the trail, until a read shows its target
size or a failed state (the ledger then appends a `close` record), or a person closes it
(`scp-volume-mcp audit --close ATTEMPT_ID`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PENDING_TTL_S = 3600.0
"""How long an open attempt blocks another resize of its volume at most: after that, a person decides."""


@dataclass(frozen=True)
class OpenAttempt:
    """An attempt whose resize may still be under way."""

    attempt_id: str
    volume_id: str
    target_gb: int
    started: str
    """When its intent was written (ISO 8601, UTC)."""
    replica: str | None
    outcome: str | None
    """None when no outcome was recorded (outcome unknown), else the outcome (accepted, failed, interrupted)."""

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - _moment(self.started)).total_seconds()


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class OpenAttemptIndex:
    """The open attempts among the records fed to it, in any order of volumes; closed ones are forgotten, so
    its size is the number of open attempts, not the length of the trail."""

    def __init__(self) -> None:
        self._open: dict[str, OpenAttempt] = {}
        self._lines: dict[str, list[str]] = {}
        self._settled: set[str] = set()
        """Attempts closed or ended without a pending resize before their intent was seen (out of order)."""

    def add(self, record: Mapping[str, Any], line: str | None = None) -> None:
        """Feed one stored record (`line`: its text, kept for open attempts so a rotation can carry them)."""
        attempt_id = record.get("attempt_id")
        if not isinstance(attempt_id, str):
            return
        phase = record.get("phase")
        if phase == "intent":
            if attempt_id not in self._settled:
                self._open[attempt_id] = _from_intent(record)
                self._lines[attempt_id] = [line] if line else []
        elif phase == "close" or (phase == "outcome" and not record.get("resize_pending")):
            self._forget(attempt_id)
        elif phase == "outcome" and attempt_id in self._open:
            self._open[attempt_id] = _with_outcome(self._open[attempt_id], record)
            if line:
                self._lines[attempt_id].append(line)

    def _forget(self, attempt_id: str) -> None:
        if self._open.pop(attempt_id, None) is None:
            self._settled.add(attempt_id)
        self._lines.pop(attempt_id, None)

    def find(self, attempt_id: str) -> OpenAttempt | None:
        """The attempt, if it is open (whatever its age)."""
        return self._open.get(attempt_id)

    def of_volume(self, volume_id: str, *, ttl_s: float = PENDING_TTL_S) -> list[OpenAttempt]:
        """The volume's open attempts younger than `ttl_s`, the most recent first."""
        now = datetime.now(UTC)
        found = [a for a in self._open.values() if a.volume_id == volume_id and a.age_s(now) <= ttl_s]
        return sorted(found, key=lambda a: a.started, reverse=True)

    def prune(self, *, ttl_s: float = PENDING_TTL_S) -> None:
        """Forget attempts past `ttl_s` (they no longer block), and the out-of-order memory."""
        now = datetime.now(UTC)
        for attempt_id in [a.attempt_id for a in self._open.values() if a.age_s(now) > ttl_s]:
            self._open.pop(attempt_id)
            self._lines.pop(attempt_id, None)
        self._settled.clear()

    def carried_lines(self) -> list[str]:
        """The stored lines of every open attempt (its intent and pending outcome), oldest attempt first."""
        order = sorted(self._open.values(), key=lambda a: a.started)
        return [line for attempt in order for line in self._lines.get(attempt.attempt_id, [])]


def _from_intent(record: Mapping[str, Any]) -> OpenAttempt:
    return OpenAttempt(
        attempt_id=str(record["attempt_id"]),
        volume_id=str(record.get("volume_id", "")),
        target_gb=int(record.get("requested_size_gb") or 0),
        started=str(record.get("time", "")),
        replica=record.get("replica") if isinstance(record.get("replica"), str) else None,
        outcome=None,
    )


def _with_outcome(attempt: OpenAttempt, record: Mapping[str, Any]) -> OpenAttempt:
    outcome = record.get("outcome")
    return OpenAttempt(attempt.attempt_id, attempt.volume_id, attempt.target_gb, attempt.started, attempt.replica,
                       outcome if isinstance(outcome, str) else None)  # fmt: skip


def open_attempts(
    records: list[Mapping[str, Any]], volume_id: str, *, ttl_s: float = PENDING_TTL_S
) -> list[OpenAttempt]:
    """The open attempts of `volume_id` among `records` (a trail's records of that volume, oldest first)."""
    index = OpenAttemptIndex()
    for record in records:
        index.add(record)
    return index.of_volume(volume_id, ttl_s=ttl_s)

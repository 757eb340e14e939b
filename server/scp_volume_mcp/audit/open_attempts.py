"""Which attempts may still have a resize under way: the durable pending state, read from the trail itself.

An attempt is open when it has an intent, no `close` record, and either no outcome (the process stopped
between the two: "outcome unknown") or an outcome whose `resize_pending` is true (SCP accepted a resize that
no read has shown yet, or its fate is unknown). An open attempt blocks every other resize of its volume, in
every process and replica sharing the trail, until a read shows its target size or a failed state (the ledger
then appends a `close` record), a person closes it (`scp-volume-mcp audit --close ATTEMPT_ID`), or its latest
record (the pending outcome, else the intent) is `PENDING_TTL_S` old. The intent's own age does not end it: a
snapshot taken first may hold the resize back for more than an hour. The file trail and the team database's
table decide alike (both feed their records to `OpenAttemptIndex`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
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
    since: str = ""
    """Its latest record's time: the expiry counts from it (a snapshot taken first may have taken most of an
    hour between the intent and the resize)."""
    endpoint: str | None = None
    """The SCP endpoint its intent names (None: not said), for the `close` record that settles it."""

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - _moment(self.since or self.started)).total_seconds()

    @property
    def started_at(self) -> datetime:
        return _moment(self.started)

    @property
    def expires_at(self) -> datetime:
        """When it stops blocking: `PENDING_TTL_S` after its latest record."""
        return _moment(self.since or self.started) + timedelta(seconds=PENDING_TTL_S)


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
                try:
                    self._open[attempt_id] = _from_intent(record)
                except ValueError:  # a record of another shape (a hand edit): skipped, the rest still counts
                    return
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

    def of_volume(
        self, volume_id: str, *, ttl_s: float = PENDING_TTL_S, now: datetime | None = None
    ) -> list[OpenAttempt]:
        """The volume's open attempts younger than `ttl_s` at `now` (this host's clock unless given), the most
        recent first."""
        now = now or datetime.now(UTC)
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
    """Raises `ValueError` for a record of another shape (a hand edit): its reader skips it."""
    volume_id, target, started = record.get("volume_id"), record.get("requested_size_gb"), record.get("time")
    if not isinstance(volume_id, str) or not isinstance(started, str):
        raise ValueError("an intent without a volume id or a time")
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValueError("an intent without an integer size")
    _moment(started)  # a time that does not parse raises ValueError here, not later in a check
    replica, endpoint = record.get("replica"), record.get("endpoint")
    return OpenAttempt(str(record["attempt_id"]), volume_id, target, started,
                       replica if isinstance(replica, str) else None, None, since=started,
                       endpoint=endpoint if isinstance(endpoint, str) else None)  # fmt: skip


def _with_outcome(attempt: OpenAttempt, record: Mapping[str, Any]) -> OpenAttempt:
    """The attempt with its pending outcome; its age now counts from that record (the resize was sent then)."""
    outcome, when = record.get("outcome"), record.get("time")
    since = when if isinstance(when, str) and _parses(when) else attempt.since
    return replace(attempt, outcome=outcome if isinstance(outcome, str) else None, since=since)


def _parses(text: str) -> bool:
    try:
        _moment(text)
    except ValueError:
        return False
    return True


def open_attempts(
    records: list[Mapping[str, Any]], volume_id: str, *, now: datetime | None = None
) -> list[OpenAttempt]:
    """The open attempts of `volume_id` among `records` (a trail's records of that volume, oldest first), aged
    at `now` (the clock that wrote their times: the database's, in team mode)."""
    index = OpenAttemptIndex()
    for record in records:
        index.add(record)
    return index.of_volume(volume_id, now=now)

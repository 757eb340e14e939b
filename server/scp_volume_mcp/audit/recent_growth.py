"""How much each volume grew lately, read from the trail: what the policy's `daily_growth_gb` counts.

An attempt counts with its growth (requested size minus the size before) from its intent's time, unless its
outcome shows that nothing was applied. It counts while its outcome is unknown, and when the outcome says
`completed` or leaves the resize pending (`resize_pending`: accepted, interrupted or failed after the request
left, and not refused by the platform). An outcome that is not `completed` and has no pending resize means the
request never left, or the platform refused it (see `Attempt.resize_may_be_pending`): that attempt does not
count. The count is conservative: an accepted resize that later failed still counts for its day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

GROWTH_WINDOW_S = 24 * 3600.0


@dataclass(frozen=True)
class _Growth:
    volume_id: str
    started: datetime
    growth_gb: int


class RecentGrowthIndex:
    """The attempts that count toward their volume's growth, among the records fed to it (any order of
    volumes; an outcome before its intent is remembered)."""

    def __init__(self) -> None:
        self._counted: dict[str, _Growth] = {}
        self.history_read = False
        """Set by a reader once it has fed the records from before the current file (rotated files)."""
        self._not_applied: set[str] = set()

    def add(self, record: Mapping[str, Any]) -> None:
        """Feed one stored record."""
        attempt_id = record.get("attempt_id")
        if not isinstance(attempt_id, str):
            return
        phase = record.get("phase")
        if phase == "intent" and attempt_id not in self._not_applied:
            growth = _growth_of(record)
            if growth is not None:
                self._counted[attempt_id] = growth
        elif phase == "outcome" and record.get("outcome") != "completed" and not record.get("resize_pending"):
            self._not_applied.add(attempt_id)
            self._counted.pop(attempt_id, None)

    def grown_gb(
        self,
        volume_id: str,
        *,
        now: datetime | None = None,
        window_s: float = GROWTH_WINDOW_S,
        exclude: str | None = None,
    ) -> int:
        """The volume's counted growth whose intent is at most `window_s` old at `now` (this host's clock
        unless given: the database's, in team mode), leaving out the attempt `exclude` (one judging itself)."""
        since = (now or datetime.now(UTC)) - timedelta(seconds=window_s)
        return sum(g.growth_gb for attempt_id, g in self._counted.items()
                   if g.volume_id == volume_id and g.started >= since and attempt_id != exclude)  # fmt: skip


def _growth_of(record: Mapping[str, Any]) -> _Growth | None:
    """None for a record of another shape (a hand edit): it is skipped, and the rest still counts."""
    volume_id, before, target, started = (record.get(k) for k in ("volume_id", "previous_size_gb",
                                                                   "requested_size_gb", "time"))  # fmt: skip
    if not isinstance(volume_id, str) or not isinstance(before, int) or not isinstance(target, int):
        return None
    if isinstance(before, bool) or isinstance(target, bool):
        return None
    try:
        moment = started if isinstance(started, datetime) else datetime.fromisoformat(str(started))
    except ValueError:
        return None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return _Growth(volume_id, moment, max(0, target - before))


def recent_growth_gb(
    records: Iterable[Mapping[str, Any]], volume_id: str, *, now: datetime, exclude: str | None = None
) -> int:
    """`volume_id`'s counted growth in the last `GROWTH_WINDOW_S` at `now`, among `records`."""
    index = RecentGrowthIndex()
    for record in records:
        index.add(record)
    return index.grown_gb(volume_id, now=now, exclude=exclude)

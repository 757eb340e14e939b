"""What this process knows about resizes in flight: a lock per volume, and the attempts that may still have a
resize under way.

The durable part is the audit trail: an attempt whose intent has no settled outcome is open (see
`audit/open_attempts.py`) and blocks every other resize of its volume, in this process, after a restart and
in every replica sharing the trail, until a read shows its target size or a failed state (the ledger then
appends a `close` record), a person closes it, or `PENDING_TTL_S` passes. This process also remembers its own
accepted resizes in memory, which is all there is when the trail is off (`SCP_AUDIT_LOG=off`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio

from ..audit import AuditTrail
from ..audit.open_attempts import PENDING_TTL_S, OpenAttempt
from ..coordination import HeldInProcess, HeldLock, VolumeCoordinator
from ..policy import Policy
from ..scp import FAILED_STATES, Volume
from ..snapshots import UnfinishedSnapshots
from .attempt import Attempt, close_settled
from .guards import PolicyFacts

logger = logging.getLogger("scp_volume_mcp")


class ResizeLedger:
    """Per-volume locks and open attempts of this process (and, through the trail and the
    coordinator, of every process sharing them)."""

    def __init__(self, trail: AuditTrail, coordinator: VolumeCoordinator | None = None) -> None:
        self.trail, self.coordinator = trail, coordinator
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}
        self._accepted: dict[str, OpenAttempt] = {}
        self.unfinished_snapshots: UnfinishedSnapshots = {}
        """Snapshots taken first that were not available in time, which a later attempt may reuse."""

    async def start(self) -> None:
        """Prepare the coordinator, if any; a failure is logged (lookups work, extensions are refused)."""
        if self.coordinator is not None:
            try:
                await self.coordinator.start()
            except Exception as exc:
                logger.error("%s; extensions are refused until then", exc)

    async def aclose(self) -> None:
        if self.coordinator is not None:
            await self.coordinator.aclose()

    @asynccontextmanager
    async def volume_lock(self, volume_id: str) -> AsyncIterator[HeldLock]:
        """Serialize the check-then-send of extensions of one volume within this process and, with a
        coordinator, across every process sharing it (raising `CoordinationError` when it cannot be had)."""
        # fast_acquire: an uncontended lock (the usual case) costs no trip through the event loop.
        lock, users = self._locks.get(volume_id) or (anyio.Lock(fast_acquire=True), 0)
        self._locks[volume_id] = (lock, users + 1)
        try:
            async with lock:
                if self.coordinator is None:
                    yield HeldInProcess()
                    return
                async with self.coordinator.volume_lock(volume_id) as held:
                    yield held
        finally:
            lock, users = self._locks[volume_id]
            if users == 1:
                del self._locks[volume_id]
            else:
                self._locks[volume_id] = (lock, users - 1)

    def remember(self, attempt: Attempt) -> None:
        """After the send: a resize SCP accepted, or whose fate is unknown (a cancelled call, a timeout), that a
        read does not show yet; this process's own memory of it, beside the trail's record. A platform refusal
        applied nothing and is not remembered."""
        if attempt.resize_may_be_pending:
            sent = datetime.now(UTC).isoformat(timespec="milliseconds")
            remembered = OpenAttempt(attempt.attempt_id, attempt.volume_id, attempt.target_gb, attempt.started or sent,
                                     attempt.replica, "accepted", since=sent)  # fmt: skip
            self._accepted[attempt.volume_id] = remembered

    async def blocking_attempt(
        self, volume_id: str, volume: Volume, *, strict: bool = True, exclude: str | None = None
    ) -> OpenAttempt | None:
        """The most recent attempt (other than `exclude`) whose resize may still be under way and that `volume`,
        as just read, does not settle. An attached volume may stay `in-use` while it grows, so its state
        alone cannot say so. `strict` (under the lock): settled attempts are closed in the trail, and a trail
        that cannot be read raises `AuditError`; otherwise (checks before the lock, plans) it answers from
        what it can read."""
        remembered = self._accepted.get(volume_id)
        if remembered is not None and remembered.age_s() > PENDING_TTL_S:  # this host's clock wrote its time
            del self._accepted[volume_id]
            remembered = None
        candidates = {remembered.attempt_id: remembered} if remembered is not None else {}
        try:
            from_trail = await self.trail.open_attempts(volume_id)  # aged by the trail's own clock
        except Exception as exc:
            if strict:
                raise
            logger.warning("Open attempts not readable (%s); the check under the lock decides", exc)
        else:
            if (
                remembered is not None
                and self.trail.enabled
                and remembered.attempt_id not in {a.attempt_id for a in from_trail}
            ):  # closed in the trail (by a read, or by an operator): this process lets it go too
                candidates.pop(remembered.attempt_id)
                del self._accepted[volume_id]
            candidates.update((a.attempt_id, a) for a in from_trail)
        for attempt in sorted(candidates.values(), key=lambda a: a.started, reverse=True):
            if attempt.attempt_id == exclude:
                continue
            if volume.size < attempt.target_gb and volume.state not in FAILED_STATES:
                return attempt
            if remembered is not None and remembered.attempt_id == attempt.attempt_id:
                del self._accepted[volume_id]
            if strict:
                await close_settled(self.trail, attempt, volume)
        return None

    async def policy_facts(
        self, policy: Policy | None, volume_id: str, *, strict: bool = True, exclude: str | None = None
    ) -> PolicyFacts | None:
        """The policy with the volume's growth in the last 24 hours, read from the trail only when a
        `daily_growth_gb` limit or a `second_person_over_gb` rule needs it (leaving out the attempt `exclude`,
        which judges itself). `strict`
        (under the lock): a trail that cannot be read raises `AuditError`; otherwise it counts what it can."""
        if policy is None:
            return None
        if not policy.counts_growth:
            return PolicyFacts(policy)
        try:
            grown = await self.trail.recent_growth_gb(volume_id, exclude)
        except Exception as exc:
            if strict:
                raise
            logger.warning("The last day's growth is not readable (%s); the check under the lock decides", exc)
            grown = 0
        return PolicyFacts(policy, grown)

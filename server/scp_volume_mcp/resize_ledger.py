"""What this process knows about resizes in flight: a lock per volume, a generation counter per volume, and the
resizes SCP accepted that no read shows yet; with a team coordinator, shared with every replica."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio

logger = logging.getLogger("scp_volume_mcp")

PENDING_TTL_S = 3600.0
"""How long an accepted resize that no read has shown yet keeps blocking another one of the same volume."""


class VolumeCoordinator(Protocol):
    """Serializes extensions of one volume across processes (team mode: `team.coordinator.TeamCoordinator`)."""

    def volume_lock(self, volume_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the volume's lock for the block; raises when it cannot be had (nothing may be sent then)."""
        ...

    async def note_pending(self, volume_id: str, target_gb: int) -> None: ...

    async def pending_target(self, volume_id: str, size_gb: int, failed: bool, ttl_s: float) -> int | None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class ResizeLedger:
    """Per-volume locks, generations and pending resizes of this process (and, with a coordinator, of all)."""

    def __init__(self, coordinator: VolumeCoordinator | None = None) -> None:
        self.coordinator = coordinator
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}
        self._generations: dict[str, int] = {}
        self._pending: dict[str, tuple[int, float]] = {}

    async def start(self) -> None:
        """Prepare the coordinator, if any; a failure is logged (lookups work, extensions are refused)."""
        if self.coordinator is not None:
            try:
                await self.coordinator.start()
            except Exception as exc:
                logger.error("%s; extensions are refused until it is reachable", exc)

    async def aclose(self) -> None:
        if self.coordinator is not None:
            await self.coordinator.aclose()

    @asynccontextmanager
    async def volume_lock(self, volume_id: str) -> AsyncIterator[None]:
        """Serialize the check-then-send of extensions of one volume within this process and, with a
        coordinator, across every process sharing it (raising its error when the lock cannot be had)."""
        # fast_acquire: an uncontended lock (the usual case) costs no trip through the event loop.
        lock, users = self._locks.get(volume_id) or (anyio.Lock(fast_acquire=True), 0)
        self._locks[volume_id] = (lock, users + 1)
        try:
            async with lock:
                if self.coordinator is None:
                    yield
                    return
                async with self.coordinator.volume_lock(volume_id):
                    # Another process may have resized the volume since any read made before the lock:
                    # count it as an attempt, so that the extension re-reads the volume under the lock.
                    self.bump_generation(volume_id)
                    yield
        finally:
            lock, users = self._locks[volume_id]
            if users == 1:
                del self._locks[volume_id]
            else:
                self._locks[volume_id] = (lock, users - 1)

    def generation(self, volume_id: str) -> int:
        """Bumped when a resize of the volume starts and again when it ends (whether or not it reached the
        platform): a check made at another generation overlapped a resize and may be stale."""
        return self._generations.get(volume_id, 0)

    def bump_generation(self, volume_id: str) -> None:
        self._generations[volume_id] = self.generation(volume_id) + 1

    async def note_pending(self, volume_id: str, target_gb: int) -> None:
        """SCP accepted a resize of the volume to `target_gb` that a read does not show yet (in team mode,
        recorded for every replica)."""
        self._pending[volume_id] = (target_gb, time.monotonic())
        if self.coordinator is not None:
            try:
                await self.coordinator.note_pending(volume_id, target_gb)
            except Exception as exc:  # the resize was sent: report it as it is, and say this loudly
                logger.error(
                    "The resize of %s to %s GB was sent, but recording it for the other replicas failed (%s); "
                    "this replica still refuses another resize of it until a read shows it",
                    volume_id, target_gb, exc,
                )  # fmt: skip

    async def pending_target(self, volume_id: str, size_gb: int, failed: bool, *, strict: bool = True) -> int | None:
        """The target of an accepted resize the volume does not show yet. An attached volume may stay
        `in-use` while it grows, so its state alone cannot say so. Forgotten once a read shows the size (or
        a failed state), or after `PENDING_TTL_S`. `strict=False` (the check before the lock, plans) answers
        None when the team database cannot say; the check under the lock is strict."""
        local = self._local_pending(volume_id, size_gb, failed)
        if self.coordinator is None:
            return local
        try:
            shared = await self.coordinator.pending_target(volume_id, size_gb, failed, PENDING_TTL_S)
        except Exception as exc:  # `strict=False`: a lookup must work without the database
            if strict:
                raise
            logger.warning("Pending resizes not readable (%s); the check under the lock decides", exc)
            shared = None
        return shared if shared is not None else local

    def _local_pending(self, volume_id: str, size_gb: int, failed: bool) -> int | None:
        """This process's own record (kept in team mode too, in case writing the shared one failed)."""
        entry = self._pending.get(volume_id)
        if entry is None:
            return None
        target, since = entry
        if size_gb >= target or failed or time.monotonic() - since > PENDING_TTL_S:
            del self._pending[volume_id]
            return None
        return target

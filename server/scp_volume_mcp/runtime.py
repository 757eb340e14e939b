"""Per-process state behind the tools: the one SCP client, per-volume locks and a short quota cache."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import anyio

from .audit import AuditTrail
from .scp import ScpError, load_config
from .settings import ServerSettings

if TYPE_CHECKING:
    from .scp import ScpClient

logger = logging.getLogger("scp_volume_mcp")

QUOTA_TTL_S = 60.0
PENDING_TTL_S = 3600.0
"""How long an accepted resize that no read has shown yet keeps blocking another one of the same volume."""
QuotaUnstated = Literal["not stated", "unreadable"]


def default_client_factory() -> ScpClient:
    from .scp import ScpClient  # httpx loads with the first SCP call, not at start-up

    return ScpClient(load_config())


class VolumeCoordinator(Protocol):
    """Serializes extensions of one volume across processes (team mode: `database.Database`)."""

    def volume_lock(self, volume_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the volume's lock for the block; raises when it cannot be had (nothing may be sent then)."""
        ...

    async def note_pending(self, volume_id: str, target_gb: int) -> None: ...

    async def pending_target(self, volume_id: str, size_gb: int, failed: bool, ttl_s: float) -> int | None: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class Runtime:
    """Owns the SCP client (created on first use, so a server without credentials still lists its tools)."""

    def __init__(
        self,
        client_factory: Callable[[], ScpClient] = default_client_factory,
        coordinator: VolumeCoordinator | None = None,
    ) -> None:
        self._client_factory = client_factory
        self.coordinator = coordinator
        self._client: ScpClient | None = None
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}
        self._generations: dict[str, int] = {}
        self._pending: dict[str, tuple[int, float]] = {}
        self._quota: tuple[float, int | None] | None = None
        self.quota_unstated: QuotaUnstated | None = None
        """Why the last quota read gave no limit: the platform stated none, or it could not be read."""

    def client(self) -> ScpClient:
        """The process's SCP client; raises `ScpConfigError` (with the fix in words) when unconfigured."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    @property
    def api_version(self) -> str | None:
        """The API version the client speaks, once it exists."""
        return self._client.api.version if self._client is not None else None

    async def start(self) -> None:
        """Prepare the coordinator, if any; a failure is logged (lookups work, extensions are refused)."""
        if self.coordinator is not None:
            try:
                await self.coordinator.start()
            except Exception as exc:
                logger.error("%s; extensions are refused until it is reachable", exc)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        try:
            if client is not None:
                await client.aclose()
        finally:
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

    async def per_volume_quota_gb(self) -> int | None:
        """The largest size one volume may have, cached briefly; None when the quota is not readable."""
        now = time.monotonic()
        if self._quota is not None and now - self._quota[0] < QUOTA_TTL_S:
            return self._quota[1]
        try:
            quota = await self.client().show_volume_quota_set()
        except ScpError as exc:
            logger.info("Volume quota not readable (%s); the platform will enforce it", exc)
            limit, self.quota_unstated = None, "unreadable"
        else:
            limit = quota.per_volume_size.stated_limit if quota.per_volume_size else None
            self.quota_unstated = "not stated" if limit is None else None
            if limit is None:
                logger.info("The platform states no per-volume size limit; it decides")
        self._quota = (now, limit)
        return limit


@dataclass(frozen=True)
class AppState:
    """What every tool and resolver reads: the settings, the process's runtime and the audit trail."""

    settings: ServerSettings
    runtime: Runtime
    audit: AuditTrail

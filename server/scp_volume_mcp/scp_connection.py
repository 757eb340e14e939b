"""The process's connection to SCP: the one client, created on first use (so a server without credentials still
lists its tools), and a short cache of the per-volume quota."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from .scp import ScpClient, ScpError, VolumeQuotaSet, load_config

logger = logging.getLogger("scp_volume_mcp")

QUOTA_TTL_S = 60.0
QuotaUnstated = Literal["not stated", "unreadable"]


def default_client_factory() -> ScpClient:
    return ScpClient(load_config())


class ScpConnection:
    """Owns the SCP client and the quota cache."""

    def __init__(self, client_factory: Callable[[], ScpClient] = default_client_factory) -> None:
        self._client_factory = client_factory
        self._client: ScpClient | None = None
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

    @property
    def endpoint(self) -> str | None:
        """The endpoint the client sends to, once it exists (and, with discovery, once it was found)."""
        return self._client.endpoint if self._client is not None else None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def quota_cached(self) -> bool:
        """Whether `per_volume_quota_gb` answers from the cache (no request)."""
        return self._quota is not None and time.monotonic() - self._quota[0] < QUOTA_TTL_S

    async def per_volume_quota_gb(self) -> int | None:
        """The largest size one volume may have, cached briefly; None when the quota is not readable."""
        if self._quota is None or not self.quota_cached:
            await self.quota_set()
        assert self._quota is not None
        return self._quota[1]

    async def quota_set(self) -> VolumeQuotaSet | None:
        """The whole quota set, read now: one request serves the per-volume limit (cached from it) and the
        snapshot count. None when it is not readable (the platform enforces its quota anyway)."""
        now = time.monotonic()
        try:
            quota = await self.client().show_volume_quota_set()
        except ScpError as exc:
            logger.info("Volume quota not readable (%s); the platform will enforce it", exc)
            self._quota, self.quota_unstated = (now, None), "unreadable"
            return None
        limit = quota.per_volume_size.stated_limit if quota.per_volume_size else None
        self.quota_unstated = "not stated" if limit is None else None
        if limit is None:
            logger.info("The platform states no per-volume size limit; it decides")
        self._quota = (now, limit)
        return quota

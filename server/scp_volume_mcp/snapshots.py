"""The way back before a growth: which snapshot exists, the snapshot quota, how a snapshot taken first is
named, and the request that restores one into a new volume.

An extension cannot be rolled back; the only way back is a snapshot restored into a new volume. Plans and
confirmation questions read the latest snapshot here; `snapshot_step` takes one before a resize. No MCP here.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import untrusted_text
from .scp import SNAPSHOT_AVAILABLE, SNAPSHOT_NAME_MAX, ScpError, Snapshot, Volume, is_volume_id

if TYPE_CHECKING:
    from .scp import ScpClient, VolumeQuotaSet

logger = logging.getLogger("scp_volume_mcp")

NAME_PREFIX = "pre-extend"
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_ -]+")


# --- what exists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotQuota:
    """The `snapshots` entry of the quota set: `limit` None when the platform states none (-1, 0, missing)."""

    limit: int | None
    in_use: int

    @property
    def full(self) -> bool:
        return self.limit is not None and self.in_use >= self.limit


@dataclass(frozen=True)
class WayBack:
    """The volume's latest snapshot (None: none exists, or `problem` says why it is unknown) and the quota."""

    latest: Snapshot | None
    quota: SnapshotQuota | None
    problem: str | None = None

    @property
    def latest_age_s(self) -> float | None:
        return age_s(self.latest.created_at) if self.latest is not None else None


async def snapshot_quota(client: ScpClient) -> SnapshotQuota | None:
    """The snapshot quota, or None when it cannot be read (the platform enforces it anyway)."""
    try:
        quota_set = await client.show_volume_quota_set()
    except ScpError as exc:
        logger.info("Snapshot quota not readable (%s); the platform will enforce it", exc)
        return None
    return snapshot_quota_of(quota_set)


def snapshot_quota_of(quota_set: VolumeQuotaSet | None) -> SnapshotQuota | None:
    """The `snapshots` entry of a quota set already read (None: not readable, or no entry)."""
    entry = quota_set.snapshots if quota_set is not None else None
    if entry is None:
        return None
    return SnapshotQuota(entry.stated_limit, _count(entry.in_use) + _count(entry.reserved))


def _count(value: object) -> int:
    """A usage count as the platform answered it; anything but a non-negative integer counts as 0 (the
    platform, which enforces the quota, decides then)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def latest_snapshot(client: ScpClient, volume_id: str) -> tuple[Snapshot | None, str | None]:
    """The volume's newest snapshot (None: it has none) and, when the list could not be read, why."""
    try:
        snapshots = await client.list_snapshots(volume_id, limit=1)
    except ScpError as exc:
        return None, str(exc)
    return (snapshots[0] if snapshots else None), None


def age_s(created_at: str | None, now: float | None = None) -> float | None:
    """Seconds since an ISO 8601 time from the platform; None when it is missing or unreadable."""
    if not created_at:
        return None
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (time.time() if now is None else now) - moment.timestamp())


def snapshot_name(volume_id: str, now: float | None = None) -> str:
    """What the snapshot is for, the volume, the time (UTC, to the second) and 4 random hex digits:
    `pre-extend <id> <yymmddHHMMSS><hex>`, 64 characters, so sentences show it whole. It is how the snapshot is
    found after an ambiguous failure, so it must be this attempt's alone: made when the snapshot is requested
    (under the volume lock), never shared by two calls in one second, in one process or across replicas.
    Within `^[a-zA-Z0-9-_ ]+$` and 255 characters."""
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{NAME_PREFIX} {_NOT_IN_NAME.sub('-', volume_id)} {stamp}{secrets.token_hex(2)}"[:SNAPSHOT_NAME_MAX]


REUSE_WITHIN_S = 3600.0
"""How recent a snapshot this server took of a volume must be to serve again as an extension's way back."""
UnfinishedSnapshots = dict[str, str]
"""Volume id -> the id of the snapshot a server took first for it that was not available in time (each server
keeps its own: `ResizeLedger.unfinished_snapshots`)."""


def is_ours(snapshot: Snapshot, volume_id: str) -> bool:
    """A snapshot named by `snapshot_name` for this volume: one this server took before extending it."""
    return (snapshot.name or "").startswith(f"{NAME_PREFIX} {_NOT_IN_NAME.sub('-', volume_id)} ")


async def reusable_snapshot(
    client: ScpClient, unfinished: UnfinishedSnapshots, volume_id: str, size_gb: int, now: float | None = None
) -> Snapshot | None:
    """The snapshot this process took first for an earlier attempt of the volume that timed out waiting for it,
    when it is now available, ours by its name, at most REUSE_WITHIN_S old and of the volume's present size (no
    resize since): the way back a snapshot first would give, so none is taken again. Only then is anything read
    (one GET), so a snapshot first costs no extra round trip otherwise. None: take a new one."""
    snapshot_id = unfinished.get(volume_id)
    if snapshot_id is None:
        return None
    try:
        snapshot = await client.show_snapshot(snapshot_id)
    except ScpError as exc:
        logger.info("Snapshot %s not readable (%s); taking a new one", snapshot_id, exc)
        return None
    age = age_s(snapshot.created_at, now)
    recent = age is not None and age <= REUSE_WITHIN_S
    status = snapshot.status.strip().lower()
    if status != SNAPSHOT_AVAILABLE and recent and not status.startswith("error"):
        return None  # still on its way: it stays remembered
    del unfinished[volume_id]
    ours = is_ours(snapshot, volume_id) and snapshot.volume_id == volume_id and snapshot.id == snapshot_id
    usable = status == SNAPSHOT_AVAILABLE and snapshot.size == size_gb and is_volume_id(snapshot.id)
    return snapshot if ours and recent and usable else None


def restore_request(snapshot: Snapshot, volume: Volume) -> dict[str, Any]:
    """The exact request that makes a new volume from the snapshot: the way back."""
    base = _NOT_IN_NAME.sub("-", volume.name or "volume").strip(" -") or "volume"
    return {
        "method": "POST",
        "path": "/v1/volumes",
        "body": {
            "name": f"{base[:200]}-restored",
            "size": snapshot.size or volume.size,
            "snapshot_id": untrusted_text.field(snapshot.id),
            "volume_type": untrusted_text.field(volume.volume_type),
        },
    }

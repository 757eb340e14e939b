"""The way back before a growth: what snapshot exists, and the snapshot-first step of an extension.

An extension cannot be rolled back; the only way back is a snapshot restored into a new volume. This
module reads the volume's latest snapshot and the snapshot quota (for plans and confirmation questions),
and takes a snapshot before a resize: create it once (never retried blindly: after an ambiguous failure
the volume's snapshots are read back and the one with the name we sent is looked for), then wait until it
is `available`. Any failure raises `ExtensionRefused`, naming the snapshot: nothing was resized.

No MCP here. The step runs inside `Extension.run`, under the per-volume lock, right before the resize.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import messages, untrusted_text
from .extension import ExtensionRefused, PollSchedule, Progress
from .scp import (
    SNAPSHOT_AVAILABLE,
    SNAPSHOT_FAILED_STATUSES,
    SNAPSHOT_NAME_MAX,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpServerError,
    ScpTransportError,
    Snapshot,
    Volume,
    is_volume_id,
)

if TYPE_CHECKING:
    from .scp import ScpClient

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
        entry = (await client.show_volume_quota_set()).snapshots
    except ScpError as exc:
        logger.info("Snapshot quota not readable (%s); the platform will enforce it", exc)
        return None
    if entry is None:
        return None
    return SnapshotQuota(entry.stated_limit, _count(entry.in_use) + _count(entry.reserved))


def _count(value: object) -> int:
    """A usage count as the platform answered it; anything but a non-negative integer counts as 0 (the
    platform, which enforces the quota, decides then)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


async def look_back(client: ScpClient, volume_id: str) -> WayBack:
    """The latest snapshot of the volume and the snapshot quota; never raises for a failed read."""
    quota = await snapshot_quota(client)
    try:
        snapshots = await client.list_snapshots(volume_id, limit=1)
    except ScpError as exc:
        return WayBack(None, quota, str(exc))
    return WayBack(snapshots[0] if snapshots else None, quota)


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


# --- snapshot first --------------------------------------------------------------------------------


class SnapshotFirst:
    """The snapshot-first step: `await step(volume)` returns the `available` snapshot or raises
    `ExtensionRefused` (nothing resized). `taken` keeps the snapshot for the result."""

    def __init__(
        self,
        client: ScpClient,
        volume_id: str,
        target_gb: int,
        *,
        timeout_s: float,
        poll_s: float,
        progress: Progress | None = None,
    ) -> None:
        self.client, self.volume_id, self.target_gb = client, volume_id, target_gb
        self.timeout_s, self.poll_s, self._progress = timeout_s, poll_s, progress
        self.name = ""
        """The snapshot's name, made when it is requested (see `snapshot_name`)."""
        self.taken: Snapshot | None = None

    async def __call__(self, volume: Volume) -> Snapshot:
        self.name = snapshot_name(self.volume_id)  # now, under the lock: this attempt's own name
        self._size = volume.size
        quota = await snapshot_quota(self.client)
        if quota is not None and quota.full and quota.limit is not None:
            raise self._refused(messages.snapshot_quota_refusal(quota.in_use, quota.limit))
        if self._progress is not None:
            await self._progress(0.0, self.timeout_s, messages.snapshot_starting(self.volume_id))
        snapshot = await self._create(volume)
        if not is_volume_id(snapshot.id):  # the way back must be an id a request can name, nothing else
            raise self._refused(messages.SNAPSHOT_ID_NOT_UUID)
        self.taken = snapshot
        snapshot = await self._wait(snapshot)
        self.taken = snapshot
        return snapshot

    async def _create(self, volume: Volume) -> Snapshot:
        """POST once; after an ambiguous failure, find the snapshot by its name instead of sending again."""
        description = f"Taken by scp-volume-mcp before extending the volume from {volume.size} to {self.target_gb} GB"
        force = volume.state == "in-use" or bool(volume.servers)
        try:
            return await self.client.create_snapshot(self.volume_id, self.name, force=force, description=description)
        except ScpServerError as exc:  # a gateway may have passed it on: look before concluding
            return await self._read_back(messages.explain(exc, self.volume_id))
        except ScpHttpError as exc:
            raise self._refused(messages.snapshot_refused(messages.explain(exc, self.volume_id))) from None
        except ScpResponseError as exc:
            return await self._read_back(str(exc))
        except ScpTransportError as exc:
            if not exc.sent:
                raise self._refused(messages.snapshot_refused(messages.not_reachable(exc))) from None
            return await self._read_back(str(exc))
        except ScpError as exc:  # refused before a request existed
            raise self._refused(messages.snapshot_refused(str(exc))) from None

    async def _read_back(self, what: str) -> Snapshot:
        logger.warning("%s; looking for snapshot %r instead of sending again", what, self.name)
        try:
            found = await self.client.list_snapshots(self.volume_id, name=self.name, limit=10)
        except ScpError as exc:
            raise self._refused(messages.snapshot_unknown(what, self.name, exc)) from None
        if not found:
            raise self._refused(messages.snapshot_not_found(what, self.name))
        if len(found) > 1:
            logger.warning("%d snapshots named %r; using the newest", len(found), self.name)
        return found[0]

    async def _wait(self, snapshot: Snapshot) -> Snapshot:
        schedule = PollSchedule(self.timeout_s, self.poll_s)
        while True:
            elapsed = schedule.elapsed
            label = messages.snapshot_label(snapshot.name, snapshot.id)
            if self._progress is not None:
                progress = messages.snapshot_progress(messages.bounded(snapshot.id), snapshot.status, elapsed)
                await self._progress(min(elapsed, self.timeout_s), self.timeout_s, progress)
            status = snapshot.status.strip().lower()
            if status == SNAPSHOT_AVAILABLE:
                return snapshot
            if status in SNAPSHOT_FAILED_STATUSES or status.startswith("error"):
                raise self._refused(messages.snapshot_failed(label, snapshot.status), snapshot)
            if schedule.remaining <= 0:
                raise self._refused(messages.snapshot_timed_out(label, snapshot.status, self.timeout_s), snapshot)
            await schedule.pause()
            try:
                snapshot = await self.client.show_snapshot(snapshot.id)
            except ScpError as exc:
                raise self._refused(messages.snapshot_unreadable(label, exc), snapshot) from None

    def _refused(self, message: str, snapshot: Snapshot | None = None) -> ExtensionRefused:
        snapshot = snapshot or self.taken
        return ExtensionRefused(
            message,
            sent=False,
            previous_size_gb=self._size,
            snapshot_id=snapshot.id if snapshot is not None else None,
        )


class PhasedProgress:
    """One progress stream over two waits (the snapshot, then the resize), each counting from zero: MCP wants
    every notification's progress larger than the one before, so a later phase continues where the last ended."""

    def __init__(self, report: Progress) -> None:
        self._report = report
        self._base = self._last_raw = self._last = 0.0
        self._started = False

    async def __call__(self, done: float, total: float, message: str) -> None:
        if done < self._last_raw:  # a new phase started from zero
            self._base = self._last
        self._last_raw = done
        value = self._base + done
        if self._started:
            value = max(value, self._last + 0.001)
        self._started, self._last = True, value
        await self._report(value, max(self._base + total, value), message)


# --- sentences about the way back (composed from messages) ----------------------------------------


def plan_line(back: WayBack, policy: str) -> str:
    """The plan's second line: which way back exists, and what the policy will do."""
    if back.problem is not None:
        line = messages.snapshots_unreadable(back.problem)
    elif back.latest is not None:
        label = messages.snapshot_label(back.latest.name, back.latest.id)
        line = messages.latest_snapshot_line(label, back.latest.status, back.latest_age_s, back.latest.created_at)
    else:
        line = messages.NO_SNAPSHOT_LINE_OFF if policy != "optional" else messages.NO_SNAPSHOT_LINE
    if policy == "required":
        line += " " + messages.SNAPSHOTS_REQUIRED_LINE
    if back.quota is not None and back.quota.full and back.quota.limit is not None and policy != "off":
        line += " Note: " + messages.snapshot_quota_full(back.quota.in_use, back.quota.limit) + "."
    return line


def question_sentence(back: WayBack | None) -> str:
    """The confirmation question's way back; `back` None means a snapshot will be taken first."""
    if back is None:
        return messages.QUESTION_SNAPSHOT_FIRST
    if back.problem is not None:
        return messages.QUESTION_SNAPSHOTS_UNKNOWN
    if back.latest is None:
        return messages.QUESTION_NO_SNAPSHOT
    return messages.question_latest_snapshot(back.latest_age_s)

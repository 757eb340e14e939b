"""The snapshot-first step of an extension, run by `execute` under the volume's lock right before
the resize: create the snapshot once (never retried blindly: after an ambiguous failure the volume's snapshots
are read back and the one with the name sent is looked for), then wait until it is `available`.

Every answer is checked to be this attempt's snapshot: of this volume and with the name sent (the create answer,
the read-back, and each read while waiting, which must also answer the id read). Another snapshot, even an
available one, is no way back. The snapshot is recorded in the `Attempt` once it is known to be this attempt's.
Any failure raises `Refused`, naming the snapshot: nothing was resized. No MCP here.
"""

from __future__ import annotations

import logging
from typing import Literal

from .. import messages
from ..scp import (
    SNAPSHOT_AVAILABLE,
    SNAPSHOT_FAILED_STATUSES,
    ScpClient,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpServerError,
    ScpTransportError,
    Snapshot,
    Volume,
    is_volume_id,
)
from ..snapshots import SnapshotQuota, UnfinishedSnapshots, reusable_snapshot, snapshot_name, snapshot_quota
from .attempt import Attempt
from .errors import Refused
from .waiting import PollSchedule, Progress

logger = logging.getLogger("scp_volume_mcp")


class SnapshotStep:
    """`await SnapshotStep(...).take(volume)` returns the `available` snapshot or raises `Refused`."""

    def __init__(
        self, client: ScpClient, attempt: Attempt, *, timeout_s: float, poll_s: float, progress: Progress | None,
        unfinished: UnfinishedSnapshots,
    ) -> None:  # fmt: skip
        self.client, self.attempt, self.unfinished = client, attempt, unfinished
        self.timeout_s, self.poll_s, self._progress = timeout_s, poll_s, progress
        self.name = ""
        """The snapshot's name, made when it is requested (see `snapshot_name`)."""

    async def take(self, volume: Volume, quota: SnapshotQuota | Literal["unread"] | None = "unread") -> Snapshot:
        """`quota`: the snapshot quota as read with the volume just before (the check, or the re-read under
        the lock); "unread" reads it here. The platform enforces it in any case: this refuses early, in words."""
        self.name = snapshot_name(self.attempt.volume_id)  # now, under the lock: this attempt's own name
        reused = await reusable_snapshot(self.client, self.unfinished, self.attempt.volume_id, volume.size)
        if reused is not None:  # an earlier attempt's snapshot became available since: it is the way back
            self.attempt.took_snapshot(reused, reused=True)
            return reused
        if quota == "unread":
            quota = await snapshot_quota(self.client)
        if quota is not None and quota.full and quota.limit is not None:
            raise self._refused(messages.snapshot_quota_refusal(quota.in_use, quota.limit))
        if self._progress is not None:
            await self._progress(0.0, self.timeout_s, messages.snapshot_starting(self.attempt.volume_id))
        snapshot = await self._create(volume)
        if not is_volume_id(snapshot.id):  # the way back must be an id a request can name, nothing else
            raise self._refused(messages.SNAPSHOT_ID_NOT_UUID)
        if not self._ours(snapshot):
            raise self._foreign(snapshot)
        self.attempt.took_snapshot(snapshot)
        return await self._wait(snapshot)

    async def _create(self, volume: Volume) -> Snapshot:
        """POST once; after an ambiguous failure, find the snapshot by its name instead of sending again."""
        volume_id, target = self.attempt.volume_id, self.attempt.target_gb
        description = f"Taken by scp-volume-mcp before extending the volume from {volume.size} to {target} GB"
        force = volume.state == "in-use" or bool(volume.servers)
        try:
            return await self.client.create_snapshot(volume_id, self.name, force=force, description=description)
        except ScpServerError as exc:  # a gateway may have passed it on: look before concluding
            return await self._read_back(messages.explain(exc, volume_id))
        except ScpHttpError as exc:
            raise self._refused(messages.snapshot_refused(messages.explain(exc, volume_id))) from None
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
            found = await self.client.list_snapshots(self.attempt.volume_id, name=self.name, limit=10)
        except ScpError as exc:
            raise self._refused(messages.snapshot_unknown(what, self.name, exc)) from None
        if not found:
            raise self._refused(messages.snapshot_not_found(what, self.name))
        mine = [snapshot for snapshot in found if self._ours(snapshot)]
        if not mine:
            raise self._foreign(found[0])
        if len(mine) > 1:
            logger.warning("%d snapshots named %r; using the newest", len(mine), self.name)
        return mine[0]

    async def _wait(self, snapshot: Snapshot) -> Snapshot:
        schedule = PollSchedule(self.timeout_s, self.poll_s)
        while True:
            self.attempt.took_snapshot(snapshot)
            elapsed = schedule.elapsed
            label = messages.snapshot_label(snapshot.name, snapshot.id)
            if self._progress is not None:
                progress = messages.snapshot_progress(messages.bounded(snapshot.id), snapshot.status, elapsed)
                await self._progress(min(elapsed, self.timeout_s), self.timeout_s, progress)
            status = snapshot.status.strip().lower()
            if status == SNAPSHOT_AVAILABLE:
                return snapshot
            if status in SNAPSHOT_FAILED_STATUSES or status.startswith("error"):
                raise self._refused(messages.snapshot_failed(label, snapshot.status))
            if schedule.remaining <= 0:  # it may still become available: the next attempt may reuse it
                self.unfinished[self.attempt.volume_id] = snapshot.id
                raise self._refused(messages.snapshot_timed_out(label, snapshot.status, self.timeout_s))
            await schedule.pause()
            try:
                read = await self.client.show_snapshot(snapshot.id)
            except ScpError as exc:
                raise self._refused(messages.snapshot_unreadable(label, exc)) from None
            if not self._ours(read, snapshot.id):
                self.attempt.took_snapshot(None)  # the platform no longer vouches for it: not recorded as the way back
                raise self._foreign(read)
            snapshot = read

    def _ours(self, snapshot: Snapshot, snapshot_id: str | None = None) -> bool:
        """Whether `snapshot` is the one this step requested: of this volume (ids compared exactly, as the
        snapshot list's filter does), with the name sent, and, for a read by id, the id that was read."""
        return (
            snapshot.volume_id == self.attempt.volume_id
            and snapshot.name == self.name
            and (snapshot_id is None or snapshot.id == snapshot_id)
        )

    def _foreign(self, snapshot: Snapshot) -> Refused:
        """The refusal for an answer naming a snapshot that is not this step's (`_ours`)."""
        label = messages.snapshot_label(snapshot.name, snapshot.id)
        volume_id = self.attempt.volume_id
        return self._refused(messages.snapshot_not_this_attempts(label, snapshot.volume_id, volume_id, self.name))

    def _refused(self, message: str) -> Refused:
        return self.attempt.refused(message, ["snapshot"])

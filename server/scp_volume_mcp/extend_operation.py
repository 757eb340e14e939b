"""The extend operation: once the human (or the flag) has confirmed, lock the volume, re-check it, write the
intent, take the snapshot first when asked, send the resize once, and optionally wait for the platform.

No MCP here. Every fact goes into the call's `Attempt`; its audit intent and outcome are written from it, one
line each. Progress goes out through a callback; refusals and failures are `ExtendError`s carrying the attempt.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Literal

import anyio

from . import messages, tracing
from .attempt import Attempt, ExtendError, ExtendRefused, ExtendReport, Outcome
from .audit import AuditError, AuditTrail
from .audit.writer import write_intent, write_outcome
from .coordination import CoordinationError
from .guards import assess_extension
from .live_check import LiveCheck
from .resize_ledger import ResizeLedger
from .resize_request import send_resize
from .scp import FAILED_STATES, ScpError, Volume
from .scp_access import ScpAccess
from .side_by_side import side_by_side
from .snapshot_step import SnapshotStep
from .snapshots import SnapshotQuota, snapshot_quota, snapshot_quota_of
from .waiting import Progress, settled, wait_until_settled

if TYPE_CHECKING:
    from .scp import ScpClient

INTERRUPTED_READ_BACK_S = 5.0
"""How long a cancelled call may take to read the volume back for its audit outcome."""


class ExtendOperation:
    """One confirmed extension of `attempt.volume_id` to `attempt.target_gb`, checked by `check` beforehand."""

    def __init__(
        self,
        scp: ScpAccess,
        ledger: ResizeLedger,
        trail: AuditTrail,
        check: LiveCheck,
        attempt: Attempt,
        *,
        timeout_s: float,
        poll_s: float,
        progress: Progress | None = None,
    ) -> None:
        self.scp, self.ledger, self.trail, self.check, self.attempt = scp, ledger, trail, check, attempt
        self.timeout_s, self.poll_s, self._progress = timeout_s, poll_s, progress
        read = check.quota_set
        self._snapshot_quota: SnapshotQuota | Literal["unread"] | None = (
            snapshot_quota_of(read.quota) if read is not None else "unread"
        )
        """The snapshot quota as last read with the volume (the check, or the re-read under the lock)."""

    @property
    def client(self) -> ScpClient:
        """The SCP client; when it cannot be made (unconfigured), the refusal says why (nothing was sent)."""
        try:
            return self.scp.client()
        except ScpError as exc:
            raise self._error(messages.explain(exc, self.attempt.volume_id)) from None

    async def run(self, *, wait: bool) -> ExtendReport:
        """Extend, and write the attempt's outcome whatever happens (also when the call is cancelled)."""
        try:
            report = await self._run(wait)
        except ExtendError as exc:
            outcome: Literal["failed", "refused"] = "failed" if exc.sent else "refused"
            await write_outcome(self.trail, self.attempt.record("outcome", outcome, exc.message))
            raise
        except BaseException:  # cancelled by the client, its disconnection or its session's end
            with anyio.CancelScope(shield=True):
                detail = await self._interrupted()
                await write_outcome(self.trail, self.attempt.record("outcome", "interrupted", detail))
            raise
        await write_outcome(self.trail, self.attempt.record("outcome", report.outcome, report.note))
        return report

    async def _run(self, wait: bool) -> ExtendReport:
        try:
            volume, note = await self._resize_under_lock()
        except CoordinationError as exc:  # the lock, before the PUT (nothing after it raises)
            raise ExtendError.of(messages.coordination_unavailable(str(exc)), self.attempt, ["lock"]) from None
        if volume.size >= self.attempt.target_gb and not self.attempt.sent:
            return ExtendReport("unchanged", volume, self.attempt)
        waited_s = None
        if wait and not settled(volume, self.attempt.target_gb):
            started = time.monotonic()
            volume, note = await wait_until_settled(
                self.client, self.attempt.volume_id, self.attempt.target_gb, volume, timeout_s=self.timeout_s,
                poll_s=self.poll_s, progress=self._progress,
            )  # fmt: skip
            waited_s = time.monotonic() - started
            if volume.state in FAILED_STATES:
                raise self._error(messages.extension_failed(self.attempt.volume_id, volume.state, volume.size))
        outcome: Outcome = "completed" if settled(volume, self.attempt.target_gb) else "accepted"
        return ExtendReport(outcome, volume, self.attempt, waited_s, note)

    async def _resize_under_lock(self) -> tuple[Volume, str | None]:
        """Under the volume's lock: re-check, intent, snapshot first, then the resize, sent at most once
        (twice only when a read proves the first was not applied). Returns the volume as last seen."""
        volume_id = self.attempt.volume_id
        async with self.ledger.volume_lock(volume_id) as held:
            volume = await self._fresh_volume()
            self.attempt.previous_size_gb = volume.size
            await self._judge(volume)
            if volume.size >= self.attempt.target_gb:
                return volume, None
            await self._write_intent()
            if self.attempt.snapshot_first:
                volume = await self._snapshot_first(volume)
                if volume.size >= self.attempt.target_gb:
                    return volume, None
            await held.verify()  # a lock lost by now (its database session ended) sends nothing
            # A check that overlapped this send (before, during or after it) sees another generation and re-reads.
            self.ledger.bump_generation(volume_id)
            try:
                with tracing.span("scp_volume_mcp.resize", **{"scp.volume_id": volume_id}) as resize:
                    sent = await send_resize(self.client, self.attempt)
                    resize.set_attributes({"scp.sent": True, "http.response.status_code": self.attempt.status or 0})
                return sent
            finally:
                self.ledger.remember(self.attempt)
                self.ledger.bump_generation(volume_id)

    async def _fresh_volume(self) -> Volume:
        """The checked volume, re-read when it may be stale: a human took time to answer, or this process
        has attempted a resize of it since it was read (a concurrent call)."""
        unchanged = self.ledger.generation(self.attempt.volume_id) == self.check.generation
        if self.attempt.confirmed_by == "flag" and unchanged:
            return self.check.volume
        if not self.attempt.snapshot_first:
            return await self._read()
        # A snapshot will follow: its quota is read beside the volume (a human may have taken minutes).
        volume, self._snapshot_quota = await side_by_side(self._read(), snapshot_quota(self.client))
        return volume

    async def _read(self) -> Volume:
        client = self.client
        try:
            return await client.show_volume(self.attempt.volume_id)
        except ScpError as exc:
            raise self._error(messages.explain(exc, self.attempt.volume_id)) from None

    async def _judge(self, volume: Volume) -> None:
        """The guards again, on a fresh read, with any resize known to be on its way; raises the refusal
        (nothing sent)."""
        volume_id, attempt_id = self.attempt.volume_id, self.attempt.attempt_id
        approved_from = self.attempt.approved_from_gb
        if approved_from is not None and volume.size != approved_from:  # what the person approved is gone
            label = messages.volume_label(volume.name, volume_id)
            raise self._error(messages.changed_since_approval(label, approved_from, volume.size), ["state"])
        try:
            pending = await self.ledger.blocking_attempt(volume_id, volume, exclude=attempt_id)
            # Under the lock: two extensions cannot both pass a daily limit that only one of them fits.
            facts = await self.ledger.policy_facts(self.check.policy, volume_id, exclude=attempt_id)
        except AuditError as exc:
            raise ExtendRefused(messages.audit_unreadable(str(exc)), self.attempt, ["audit"]) from None
        assessment = assess_extension(volume, self.attempt.target_gb, self.check.per_volume_quota_gb, pending, facts)
        if assessment.verdict == "refused":
            label = messages.volume_label(volume.name, self.attempt.volume_id)
            raise self._error(messages.refusal(label, assessment.reasons), assessment.codes)

    async def _write_intent(self) -> None:
        """Fail closed: no resize (nor the snapshot before it) leaves unless its intent is stored."""
        intent = self.attempt.record("intent")
        self.attempt.started = intent.time
        try:
            await write_intent(self.trail, intent)
        except AuditError as exc:
            raise ExtendRefused(messages.audit_unwritable(str(exc)), self.attempt, ["audit"]) from None

    async def _snapshot_first(self, volume: Volume) -> Volume:
        """The snapshot step; the volume is read and judged again after it, since a snapshot takes time (its
        size then becomes the attempt's size before)."""
        with tracing.span("scp_volume_mcp.snapshot", **{"scp.volume_id": self.attempt.volume_id}):
            step = SnapshotStep(self.client, self.attempt, timeout_s=self.timeout_s, poll_s=self.poll_s,
                                progress=self._progress, unfinished=self.ledger.unfinished_snapshots)  # fmt: skip
            await step.take(volume, self._snapshot_quota)
        # Sequential, after the snapshot is available: the snapshot took time, and the resize must be judged
        # on the volume as it is now.
        volume = await self._read()
        await self._judge(volume)
        self.attempt.previous_size_gb = volume.size
        return volume

    async def _interrupted(self) -> str:
        """The call ended under us: whether a resize was sent and, if so, what a quick read shows now."""
        seen = None
        if self.attempt.sent:
            with anyio.move_on_after(INTERRUPTED_READ_BACK_S), contextlib.suppress(ScpError, ExtendError):
                seen = await self.client.show_volume(self.attempt.volume_id)
        return messages.interrupted(self.attempt.sent, seen.size if seen else None, seen.state if seen else None)

    def _error(self, message: str, codes: list[str] | None = None) -> ExtendError:
        return ExtendError.of(message, self.attempt, codes)

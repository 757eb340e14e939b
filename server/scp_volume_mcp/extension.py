"""The extend operation: check the live volume, then, once confirmed, lock, re-check, send once, read back
after an ambiguous failure, and optionally wait for the platform.

No MCP here. Progress goes out through a callback; refusals and failures are exceptions that carry
whether anything was sent, the HTTP status received and the platform's request id. The server turns
them into tool errors and writes the audit record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio

from . import messages, tracing, untrusted_text
from .guards import Assessment, assess_extension
from .runtime import Runtime
from .scp import (
    FAILED_STATES,
    SETTLED_STATES,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpTimeoutError,
    ScpTransportError,
    Snapshot,
    Volume,
)

if TYPE_CHECKING:
    from .scp import ScpClient

logger = logging.getLogger("scp_volume_mcp")

ConfirmedBy = Literal["human", "flag"]
Outcome = Literal["completed", "accepted", "unchanged", "declined", "cancelled"]
Progress = Callable[[float, float, str], Awaitable[None]]
"""(elapsed seconds, timeout seconds, message)"""
MIN_POLL_S = 0.2


@dataclass(frozen=True)
class LiveCheck:
    """The live volume, the quota and what the guards say about the requested size."""

    volume_id: str
    """The id asked for (what requests use; the platform's copy in `volume.id` is only displayed)."""
    volume: Volume
    per_volume_quota_gb: int | None
    assessment: Assessment
    generation: int
    """The runtime's resize generation for the volume when it was read (see `Runtime.generation`)."""

    @property
    def label(self) -> str:
        return messages.volume_label(self.volume.name, self.volume_id)


async def check_live(runtime: Runtime, volume_id: str, new_size_gb: int) -> LiveCheck:
    """Read the volume and the quota and judge the extension. Raises `ScpError` when a read fails."""
    generation = runtime.generation(volume_id)
    volume = await runtime.client().show_volume(volume_id)
    quota = await runtime.per_volume_quota_gb()
    pending = await runtime.pending_target(volume_id, volume.size, volume.state in FAILED_STATES, strict=False)
    return LiveCheck(volume_id, volume, quota, assess_extension(volume, new_size_gb, quota, pending), generation)


@dataclass(frozen=True)
class ExtensionReport:
    """How an extension ended without an error."""

    outcome: Outcome
    volume_id: str
    volume: Volume
    """The volume as last seen."""
    previous_size_gb: int
    sent: bool = False
    status: int | None = None
    request_id: str | None = None
    waited_s: float | None = None
    note: str | None = None
    snapshot_id: str | None = None
    """The snapshot taken first (the way back), when the extension snapshotted first."""

    @classmethod
    def nothing_sent(cls, outcome: Outcome, check: LiveCheck) -> ExtensionReport:
        """Unchanged, declined or cancelled before the operation started."""
        return cls(outcome, check.volume_id, check.volume, check.volume.size)


class ExtensionError(Exception):
    """The extension did not happen as asked; `sent` says whether a resize request left this process."""

    def __init__(
        self,
        message: str,
        *,
        sent: bool,
        previous_size_gb: int,
        status: int | None = None,
        request_id: str | None = None,
        snapshot_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent
        self.previous_size_gb = previous_size_gb
        self.status = status
        self.request_id = request_id
        self.snapshot_id = snapshot_id
        """The snapshot taken (or attempted and found) before the resize, if any."""


class ExtensionRefused(ExtensionError):
    """Nothing was sent: a guard, a failed read or the audit trail stopped it."""


class ExtensionFailed(ExtensionError):
    """A resize request was sent and the platform refused it, or its fate could not be settled as hoped."""


class Extension:
    """One confirmed extension of one volume to `target` GB, checked by `check` before confirmation."""

    def __init__(
        self,
        runtime: Runtime,
        check: LiveCheck,
        target: int,
        *,
        before_send: Callable[[Volume], Awaitable[None]] | None = None,
        progress: Progress | None = None,
        snapshot_first: Callable[[Volume], Awaitable[Snapshot]] | None = None,
    ) -> None:
        self.runtime, self.check, self.target = runtime, check, target
        self.volume_id = check.volume_id
        self._before_send = before_send
        self._snapshot_first = snapshot_first
        self.snapshot_id: str | None = None
        self._progress = progress
        self.previous_size = check.volume.size
        self.sent = False
        self.status: int | None = None
        self.request_id: str | None = None

    @property
    def scp(self) -> ScpClient:
        return self.runtime.client()

    async def run(self, confirmed_by: ConfirmedBy, *, wait: bool, timeout_s: float, poll_s: float) -> ExtensionReport:
        """Send the resize at most once (twice only when a read proves the first was not applied)."""
        async with self.runtime.volume_lock(self.volume_id):
            volume = await self._fresh_volume(confirmed_by)
            self.previous_size = volume.size
            if await self._judge(volume) == "unchanged":
                return self._report("unchanged", volume)
            if self._before_send is not None:
                await self._before_send(volume)
            if self._snapshot_first is not None:
                with tracing.span("scp_volume_mcp.snapshot", **{"scp.volume_id": self.volume_id}):
                    volume = await self._take_snapshot(volume)
                if volume.size >= self.target:
                    return self._report("unchanged", volume)
            # A check that overlapped this send (before, during or after it) sees another generation and re-reads.
            self.runtime.bump_generation(self.volume_id)
            try:
                with tracing.span("scp_volume_mcp.resize", **{"scp.volume_id": self.volume_id}) as resize:
                    volume, note = await self._send()
                    resize.set_attributes({"scp.sent": self.sent, "http.response.status_code": self.status or 0})
            finally:
                # Accepted, or its fate unknown (a cancelled call, a timeout): until a read shows the new size,
                # no other resize of this volume leaves this process. A platform refusal applied nothing.
                if self.sent and not (self.status is not None and self.status >= 400):
                    with anyio.CancelScope(shield=True):  # also when this call is being cancelled
                        await self.runtime.note_pending(self.volume_id, self.target)
                self.runtime.bump_generation(self.volume_id)
        waited_s = None
        if wait and not self._settled(volume):
            started = time.monotonic()
            with tracing.span("scp_volume_mcp.wait", **{"scp.volume_id": self.volume_id}) as waiting:
                volume, note = await wait_until_settled(
                    self.scp, self.volume_id, self.target, volume, timeout_s=timeout_s, poll_s=poll_s,
                    progress=self._progress,
                )  # fmt: skip
                waiting.set_attributes(
                    {"scp.settled": self._settled(volume), "scp.state": untrusted_text.short(volume.state)}
                )
            waited_s = time.monotonic() - started
            if volume.state in FAILED_STATES:
                raise self._error(messages.extension_failed(self.volume_id, volume.state, volume.size))
        return self._report("completed" if self._settled(volume) else "accepted", volume, note, waited_s)

    async def _fresh_volume(self, confirmed_by: ConfirmedBy) -> Volume:
        """The checked volume, re-read when it may be stale: a human took time to answer, or this process
        has attempted a resize of it since it was read (a concurrent call)."""
        if confirmed_by == "flag" and self.runtime.generation(self.volume_id) == self.check.generation:
            return self.check.volume
        return await self._read()

    async def _read(self) -> Volume:
        try:
            return await self.scp.show_volume(self.volume_id)
        except ScpError as exc:
            raise self._error(messages.explain(exc, self.volume_id)) from None

    async def _judge(self, volume: Volume) -> Literal["extend", "unchanged"]:
        """The guards again, on a fresh read, with any resize this process knows is on its way; raises the
        refusal (nothing sent)."""
        failed = volume.state in FAILED_STATES
        pending = await self.runtime.pending_target(self.volume_id, volume.size, failed)
        assessment = assess_extension(volume, self.target, self.check.per_volume_quota_gb, pending)
        if assessment.verdict == "refused":
            label = messages.volume_label(volume.name, self.volume_id)
            raise self._error(messages.refusal(label, assessment.reasons))
        return assessment.verdict

    async def _take_snapshot(self, volume: Volume) -> Volume:
        """The snapshot-first step (still under the lock); the volume is read again after it, since taking
        a snapshot takes time. Raises `ExtensionRefused` (nothing resized) when the snapshot fails."""
        assert self._snapshot_first is not None
        try:
            self.snapshot_id = (await self._snapshot_first(volume)).id
        except ExtensionError as exc:
            self.snapshot_id = exc.snapshot_id
            raise
        volume = await self._read()
        await self._judge(volume)
        self.previous_size = volume.size
        return volume

    async def _send(self) -> tuple[Volume, str | None]:
        """Send the PUT; after an ambiguous failure, read back and send again only if provably not applied."""
        for attempt in (1, 2):
            try:
                self.sent = True
                accepted = await self.scp.extend_volume(self.volume_id, self.target)
                self.status, self.request_id = accepted.status, accepted.request_id
                return accepted.volume, None
            except ScpHttpError as exc:
                self.status, self.request_id = exc.status, exc.request_id
                raise self._error(messages.explain(exc, self.volume_id)) from None
            except ScpResponseError as exc:
                self.status, self.request_id = exc.status, exc.request_id
                volume = await self._read_back(messages.unreadable_answer_context(exc.status))
                return volume, messages.unreadable_answer(exc.status)
            except ScpTransportError as exc:
                if not exc.sent and attempt == 1:
                    self.sent = False
                    raise self._error(messages.not_reachable(exc)) from None
                if not exc.sent:
                    raise self._error(messages.resend_unreachable(exc)) from None
                volume = await self._read_back(str(exc))
                if volume.size >= self.target:
                    return volume, messages.dropped_then_applied(exc)
                if volume.state in FAILED_STATES:
                    raise self._error(messages.dropped_then_failed(exc, volume.state, volume.size)) from None
                if volume.state not in SETTLED_STATES:
                    return volume, messages.dropped_in_progress(exc, volume.state)
                if isinstance(exc, ScpTimeoutError):
                    # The platform may still be working on it: a read cannot prove it will not be applied.
                    raise self._error(messages.timed_out_unknown(exc, volume.state, volume.size)) from None
                if attempt == 2:
                    raise self._error(messages.dropped_twice(self.volume_id, volume.size, volume.state)) from None
                logger.warning("%s; the volume shows it was not applied, sending once more", exc)
            except ScpError as exc:  # refused before a request existed: bad input or configuration
                self.sent = attempt > 1
                raise self._error(messages.explain(exc, self.volume_id)) from None
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _read_back(self, what: str) -> Volume:
        try:
            return await self.scp.show_volume(self.volume_id)
        except ScpError as exc:
            raise self._error(messages.read_back_failed(what, self.target, exc)) from None

    def _settled(self, volume: Volume) -> bool:
        return settled(volume, self.target)

    def _report(
        self,
        outcome: Outcome,
        volume: Volume,
        note: str | None = None,
        waited_s: float | None = None,
    ) -> ExtensionReport:
        return ExtensionReport(
            outcome, self.volume_id, volume, self.previous_size, self.sent, self.status, self.request_id, waited_s,
            note, self.snapshot_id,
        )  # fmt: skip

    def _error(self, message: str) -> ExtensionError:
        kind = ExtensionFailed if self.sent else ExtensionRefused
        return kind(
            message,
            sent=self.sent,
            previous_size_gb=self.previous_size,
            status=self.status,
            request_id=self.request_id,
            snapshot_id=self.snapshot_id,
        )


class PollSchedule:
    """Pauses between reads while waiting on the platform: doubling from MIN_POLL_S up to `poll_s`, never past
    `timeout_s` from the schedule's start."""

    def __init__(self, timeout_s: float, poll_s: float) -> None:
        self.timeout_s, self._longest = timeout_s, max(poll_s, MIN_POLL_S)
        self._started = time.monotonic()
        self._delay = MIN_POLL_S

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    @property
    def remaining(self) -> float:
        return self.timeout_s - self.elapsed

    async def pause(self) -> None:
        await anyio.sleep(max(0.0, min(self._delay, self.remaining)))
        self._delay = min(self._delay * 2, self._longest)


def settled(volume: Volume, target: int) -> bool:
    """The extension is over: the size reached and the volume usable again."""
    return volume.size >= target and volume.state in SETTLED_STATES


async def wait_until_settled(
    scp: ScpClient, volume_id: str, target: int, volume: Volume, *, timeout_s: float, poll_s: float,
    progress: Progress | None,
) -> tuple[Volume, str | None]:  # fmt: skip
    """Poll (backing off up to `poll_s`) until the volume settles at `target`, fails, or time runs out.
    Returns the last volume seen (the caller judges a failed state) and a note when it is not settled."""
    schedule = PollSchedule(timeout_s, poll_s)
    while True:
        elapsed = schedule.elapsed
        if progress is not None:
            await progress(
                min(elapsed, timeout_s), timeout_s, messages.wait_progress(volume.state, volume.size, target, elapsed)
            )
        if volume.state in FAILED_STATES:
            return volume, None
        if schedule.remaining <= 0:
            return volume, messages.still_working(volume.state, volume.size, timeout_s)
        await schedule.pause()
        try:
            volume = await scp.show_volume(volume_id)
        except ScpError as exc:
            return volume, messages.wait_read_failed(exc)
        if settled(volume, target):
            return volume, None

"""Waiting on the platform: the poll schedule shared by the snapshot step and the resize, the wait until a
resize settles, and one progress stream over both waits. No MCP here: progress goes out through a callback."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from .. import messages, tracing, untrusted_text
from ..scp import FAILED_STATES, SETTLED_STATES, ScpClient, ScpError, Volume

Progress = Callable[[float, float, str], Awaitable[None]]
"""(elapsed seconds, timeout seconds, message)"""
FIRST_POLL_S = 0.1
"""The first look: a platform that is quick has often finished within a round trip or two."""
POLL_GROWTH = 3.0


class PollSchedule:
    """Pauses between reads while waiting on the platform: the first after FIRST_POLL_S, then each three times
    the last (0.1, 0.3, 0.9 s) up to `poll_s`, never past `timeout_s` from the schedule's start. So what the
    platform shows is seen within about one poll interval, and a long wait sends no more reads than a schedule
    doubling from 0.2 s (the one before): its three early looks take 1.3 s where that one's four took 3.0 s."""

    def __init__(self, timeout_s: float, poll_s: float, clock: Callable[[], float] | None = None) -> None:
        self.timeout_s, self._longest = timeout_s, max(poll_s, FIRST_POLL_S)
        self._clock = clock or time.monotonic
        self._started = self._clock()
        self._delay = FIRST_POLL_S

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    @property
    def remaining(self) -> float:
        return self.timeout_s - self.elapsed

    def next_pause(self) -> float:
        """The pause before the next read (and the schedule moves on)."""
        pause = max(0.0, min(self._delay, self.remaining))
        self._delay = min(self._delay * POLL_GROWTH, self._longest)
        return pause

    async def pause(self) -> None:
        await anyio.sleep(self.next_pause())


def settled(volume: Volume, target: int) -> bool:
    """The extension is over: the size reached and the volume usable again."""
    return volume.size >= target and volume.state in SETTLED_STATES


async def wait_until_settled(
    client: ScpClient, volume_id: str, target: int, volume: Volume, *, timeout_s: float, poll_s: float,
    progress: Progress | None,
) -> tuple[Volume, str | None]:  # fmt: skip
    """Poll (backing off up to `poll_s`) until the volume settles at `target`, fails, or time runs out, in a
    span of its own. Returns the last volume seen (the caller judges a failed state) and a note when it is not
    settled."""
    with tracing.span("scp_volume_mcp.wait", **{"scp.volume_id": volume_id}) as span:
        volume, note = await _poll(client, volume_id, target, volume, timeout_s=timeout_s, poll_s=poll_s,
                                   progress=progress)  # fmt: skip
        span.set_attributes({"scp.settled": settled(volume, target), "scp.state": untrusted_text.short(volume.state)})
    return volume, note


async def _poll(
    client: ScpClient, volume_id: str, target: int, volume: Volume, *, timeout_s: float, poll_s: float,
    progress: Progress | None,
) -> tuple[Volume, str | None]:  # fmt: skip
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
            volume = await client.show_volume(volume_id)
        except ScpError as exc:
            return volume, messages.wait_read_failed(exc)
        if settled(volume, target):
            return volume, None


class PhasedProgress:
    """One progress stream per call, over one or two waits (the snapshot, then the resize), each counting from
    zero. The total is fixed for the call (`total`: the longest the waits may take together), values are tenths
    of a second, and every value is larger than the one before (as MCP wants): a later phase continues where the
    last ended."""

    def __init__(self, report: Progress, total: float) -> None:
        self._report = report
        self._total = round(total, 1)
        self._base = self._last_raw = 0.0
        self._last: float | None = None

    async def __call__(self, done: float, total: float, message: str) -> None:
        if done < self._last_raw and self._last is not None:  # a new phase started from zero
            self._base = self._last
        self._last_raw = done
        value = min(round(self._base + done, 1), self._total)
        if self._last is not None and value <= self._last:
            value = round(self._last + 0.1, 1)
        if value > self._total:  # nothing left to count up to: this notification would go backwards
            return
        self._last = value
        await self._report(value, self._total, message)

"""Stopping gracefully on SIGTERM (a Kubernetes rollout) or Ctrl+C, over HTTP and stdio: no new tool call is
taken, those in flight get SCP_SHUTDOWN_GRACE seconds to finish, the rest are cancelled (an extension then reads
the volume back and records `interrupted`), and the process exits 0. A second Ctrl+C hurries it."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import uvicorn
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR
from sse_starlette.sse import AppStatus

from . import messages

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

DRAIN_S = 2
"""On a stop, once no tool call is in flight and the event streams are told to end: how long the connections
may take to close before uvicorn cancels what still holds them."""
SETTLE_S = 10.0
"""On a stop, how long the tool calls cancelled past the grace may take to end: an extension reads the volume
back (at most `extension.execute.INTERRUPTED_READ_BACK_S`) and writes its outcome."""


class StopGate:
    """The tool calls in flight, each in a cancel scope of its own, and whether a stop has begun. Added to the
    server's middleware, it wraps every `tools/call`; once the stop has begun it refuses new ones before anything
    is done, and past the grace it cancels those still running (anyio cancellation, which the extend operation
    survives long enough to record its outcome) and answers them with an error."""

    def __init__(self) -> None:
        self._running: set[Any] = set()
        """The cancel scopes of the tool calls running now."""
        self.began_at: float | None = None
        """When the stop began (`time.monotonic`), None while serving."""
        self.signal_name = "a signal"
        """The signal that began the stop, for its log line."""

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if self.began_at is not None:
            raise _error(messages.SERVER_STOPPING)

        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                return await call_next(ctx)
        finally:
            self._running.discard(scope)
        raise _error(messages.SERVER_STOPPED)  # only the stop cancels this scope

    def begin(self, grace_s: float) -> None:
        """Refuse new tool calls from now on, saying so on stderr (once)."""
        if self.began_at is not None:
            return
        self.began_at = time.monotonic()
        _say(f"stopping ({self.signal_name}): no new tool calls; {self.in_flight} in flight, given up to "
             f"{grace_s:g} s to finish (SCP_SHUTDOWN_GRACE)")  # fmt: skip

    async def drain(self, grace_s: float, forced: Callable[[], bool]) -> int:
        """Wait until no tool call is in flight, at most `grace_s` after the stop began (less once `forced()`);
        then cancel those left and wait, at most `SETTLE_S`, until they have ended. Returns how many were
        cancelled."""

        deadline = (self.began_at or time.monotonic()) + grace_s
        while self._running and not forced() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls forced()
            await anyio.sleep(0.05)
        cancelled = len(self._running)
        for scope in list(self._running):
            scope.cancel()
        deadline = time.monotonic() + SETTLE_S
        while self._running and time.monotonic() < deadline:  # noqa: ASYNC110 - a bounded wait
            await anyio.sleep(0.05)
        return cancelled

    def ended(self, cancelled: int) -> None:
        """The stop's last line on stderr."""
        took = time.monotonic() - (self.began_at or time.monotonic())
        how = "every tool call finished" if not cancelled else (
            f"{cancelled} tool call(s) still running past the grace were cancelled (an extension records its "
            "outcome as interrupted)")  # fmt: skip
        _say(f"stopped after {took:.1f} s: {how}")


def _error(message: str) -> Exception:

    return MCPError(INTERNAL_ERROR, message)


def _say(line: str) -> None:
    print(f"scp-volume-mcp: {line}", file=sys.stderr, flush=True)


def graceful_server(config: Any, gate: StopGate, grace_s: float) -> Any:
    """uvicorn's server, stopping as `serve` should on SIGTERM or Ctrl+C (a second Ctrl+C hurries it)."""

    # The SDK's event streams (sse-starlette) would otherwise end at the signal itself, and with them the answers
    # of the calls still in flight; they are told to end once those calls are done (see `shutdown`).
    AppStatus.enable_automatic_graceful_drain = False

    class GracefulServer(uvicorn.Server):
        """On the signal: the listener closes (new connections are refused) and the gate refuses new tool calls
        on open ones; the tool calls in flight get `grace_s` to finish, then are cancelled (the gate's `drain`);
        the event streams are told to end, and uvicorn's own shutdown waits `DRAIN_S` at most for the
        connections, then ends the lifespan. Unlike uvicorn's, the signal is not raised again afterwards: the
        process exits 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if gate.began_at is None and not self.should_exit:
                gate.signal_name = signal.Signals(sig).name
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            gate.begin(grace_s)
            for listener in self.servers:
                listener.close()
            cancelled = await gate.drain(grace_s, lambda: self.force_exit)
            AppStatus.should_exit = True  # every event stream ends now (sse-starlette polls it twice a second)
            self.config.timeout_graceful_shutdown = DRAIN_S
            await super().shutdown(sockets)
            gate.ended(cancelled)

    return GracefulServer(config)


class _StdinRelay:
    """The stdio server's input: a pipe that a daemon thread fills from fd 0. `end` gives the server the end of
    its input, as a client closing stdin would (the SDK then cancels what still runs and closes), while the
    thread may stay blocked reading fd 0, which the process does not wait for."""

    def __init__(self) -> None:
        read_fd, self._write_fd = os.pipe()
        self.stdin = io.TextIOWrapper(open(read_fd, "rb"), encoding="utf-8")  # noqa: SIM115 - the server's, for good
        """What the server reads instead of fd 0."""
        self._lock = threading.Lock()
        self._ended = False
        threading.Thread(target=self._copy, name="scp-volume-mcp stdin", daemon=True).start()

    def _copy(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(0, 65536):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._write_fd, view) :]
        self.end()

    def end(self) -> None:
        """The pipe's writing end becomes the null device: the server reads to the end of the pipe, then EOF."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._write_fd)  # the fd stays taken: a copy still under way goes nowhere, harmlessly
            os.close(null)


async def _serve_stdio(server: Any, gate: StopGate, relay: _StdinRelay, grace_s: float) -> None:
    """Serve until the client closes stdin, or until a stop (SIGTERM, Ctrl+C) has let the tool calls in flight
    finish (at most `grace_s`, less after a second Ctrl+C), cancelled the rest, and ended the input."""

    hurried: list[bool] = []
    cancelled: list[int] = []

    async def stop_on_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                async for sig in signals:
                    if gate.began_at is None:
                        gate.signal_name = signal.Signals(sig).name
                        gate.begin(grace_s)
                        tg.start_soon(drain)
                    elif sig == signal.SIGINT:
                        hurried.append(True)

    async def drain() -> None:
        cancelled.append(await gate.drain(grace_s, lambda: bool(hurried)))
        relay.end()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signal)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()
    if gate.began_at is not None:
        gate.ended(cancelled[0] if cancelled else gate.in_flight)


def run_stdio(server: Any, gate: StopGate, grace_s: float) -> None:
    """Serve on stdio; a client that goes away (closed stdin, broken pipe) ends the server quietly, and a
    SIGTERM stops it gracefully (see `_serve_stdio`)."""

    gone: tuple[type[BaseException], ...] = (
        BrokenPipeError,
        ConnectionResetError,
        anyio.ClosedResourceError,
        anyio.BrokenResourceError,
        KeyboardInterrupt,
    )
    relay = _StdinRelay()
    sys.stdin = relay.stdin  # read by the SDK's stdio transport (fd 0 is the relay's)
    try:
        anyio.run(_serve_stdio, server, gate, relay, grace_s)
    except gone:
        pass
    except BaseExceptionGroup as group:
        if group.split(gone)[1] is not None:  # something else went wrong too
            raise
    finally:
        # Python flushes stdout at exit; with the pipe gone that would print a traceback.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

"""A SIGTERM (a Kubernetes rollout, a process manager) stops `serve` gracefully: no new tool calls, the
extensions in flight finish within SCP_SHUTDOWN_GRACE or are cancelled past it, and either way the audit trail
has the intent and an outcome. Judged with real `serve` processes (HTTP and stdio), the emulator's journal and
the audit file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process, TaskGroup
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings, SettingsError
from startup_wait import budget, wait_listening

from .test_transports import free_port, scp_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ARGS = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
SLOW_PUT_S = 3.0
DEFAULT_GRACE_S = 20.0
"""SCP_SHUTDOWN_GRACE's default: a stop that ends well before it did not wait it out."""
"""How long the emulator takes to answer the resize in the tests where the extension finishes in the grace."""
READ_BACK_S = 5.0
"""The extend operation's bound on its read-back after a cancellation (extend_operation.INTERRUPTED_READ_BACK_S)."""


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - another process (or thread) makes it true
            await anyio.sleep(0.02)


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int
    printed: Any
    kept: str = ""

    def output(self) -> str:
        """What the process printed (stdout and stderr), also once the server is gone."""
        if not self.printed.closed:
            self.printed.seek(0)
            self.kept = str(self.printed.read())
        return self.kept

    async def stopped(self, timeout_s: float) -> tuple[int, float]:
        """SIGTERM, then the exit code and the seconds the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(timeout_s):
            while self.process.poll() is None:  # noqa: ASYNC110 - a subprocess
                await anyio.sleep(0.02)
        return self.process.returncode, time.monotonic() - started


@contextmanager
def http_serve(emulator: EmulatorServer, log: Path, **env: str) -> Iterator[Served]:
    port = free_port()
    served: Served | None = None
    with tempfile.TemporaryFile("w+") as printed:
        process = subprocess.Popen(
            [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port), "--no-auth"],
            env={**os.environ, **scp_env(emulator, SCP_CONFIRMATION="flag", SCP_AUDIT_LOG=str(log)), **env},
            stdout=printed,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            served = Served(process, f"http://127.0.0.1:{port}/mcp", port, printed)
            wait_listening(port, process, served.output)
            yield served
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if served is not None:
                served.output()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def assert_one_stop_logged(output: str) -> None:
    assert output.count("scp-volume-mcp: stopping") == 1, output
    assert output.count("scp-volume-mcp: stopped") == 1, output
    assert "Traceback" not in output, output


# --- HTTP ---------------------------------------------------------------------------------------------
# Both eras of the protocol: "auto" (one request per exchange) and "legacy" (a session with its event stream).
MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])


def start_client(tg: TaskGroup, served: Served, mode: str, arguments: dict[str, Any] | None = None) -> list[Any]:
    """A client connected for as long as the test runs (as clients stay connected through a rollout): it says
    "connected", calls extend_volume with `arguments` (unless None) and keeps the result, then waits. What it
    raises once the server is gone is kept too, not raised: that is the client's business."""
    got: list[Any] = []

    async def run() -> None:
        try:
            async with Client(streamable_http_client(served.url), mode=mode) as client:
                await client.list_tools()
                got.append("connected")
                if arguments is not None:
                    got.append(await client.call_tool("extend_volume", arguments))
                await anyio.sleep_forever()
        except Exception as exc:
            got.append(exc)

    tg.start_soon(run)
    return got


@MODES
async def test_http_an_extension_in_flight_finishes_and_the_server_exits_0(
    emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    emulator.state.add_fault(Fault("extend", latency_s=SLOW_PUT_S))
    log = tmp_path / "audit.jsonl"
    with http_serve(emulator, log) as served:  # the default grace (20 s)
        async with anyio.create_task_group() as tg:
            got = start_client(tg, served, mode, ARGS)
            await until(lambda: bool(records(log)))  # the intent: the resize is on its way
            tg.start_soon(_check_refusing, served.port)
            code, took = await served.stopped(timeout_s=SLOW_PUT_S + 10)
            tg.cancel_scope.cancel()
    print(f"HTTP ({mode}) stop with an extension finishing: {took:.2f} s")
    assert code == 0, served.output()
    assert took < min(DEFAULT_GRACE_S - 1, SLOW_PUT_S + budget(3)), took  # the extension's end, not the grace's
    result = got[1]
    assert isinstance(result, CallToolResult), got
    assert not result.is_error, result
    intent, outcome = records(log)
    assert (intent["phase"], outcome["phase"]) == ("intent", "outcome")
    assert outcome["outcome"] in ("completed", "accepted")
    assert len(emulator.state.requests("PUT")) == 1
    assert_one_stop_logged(served.output())


async def _check_refusing(port: int) -> None:
    """The stop has begun: the listener closes (while the extension in flight finishes)."""
    with anyio.fail_after(budget(5)):
        while not await anyio.to_thread.run_sync(refuses_connections, port):  # noqa: ASYNC110 - another process
            await anyio.sleep(0.05)


@MODES
async def test_http_past_the_grace_an_extension_is_interrupted_and_recorded(
    emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    emulator.state.settings.extend_seconds = 60  # the wait would take a minute
    log = tmp_path / "audit.jsonl"
    with http_serve(emulator, log, SCP_SHUTDOWN_GRACE="1", SCP_POLL_INTERVAL="0.2") as served:
        async with anyio.create_task_group() as tg:
            got = start_client(tg, served, mode, {**ARGS, "wait": True, "timeout_s": 120})
            await until(lambda: bool(emulator.state.requests("PUT")))
            code, took = await served.stopped(timeout_s=1 + READ_BACK_S + 10)
            tg.cancel_scope.cancel()
    print(f"HTTP ({mode}) stop with an extension past a 1 s grace: {took:.2f} s")
    assert code == 0, served.output()
    assert took < min(30, 1 + budget(4)), took  # the 1 s grace and a read back, not the minute-long wait
    intent, outcome = records(log)
    assert intent["phase"] == "intent"
    assert (outcome["phase"], outcome["outcome"]) == ("outcome", "interrupted")
    assert "after the resize request was sent; reading back showed" in outcome["detail"]
    assert len(emulator.state.requests("PUT")) == 1
    assert "stopped before this call finished" in str(got[1:]), got  # the client is told, if it still listens
    assert_one_stop_logged(served.output())


@MODES
async def test_http_with_nothing_in_flight_and_a_client_connected_stops_at_once(
    emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    with http_serve(emulator, tmp_path / "audit.jsonl") as served:
        async with anyio.create_task_group() as tg:
            got = start_client(tg, served, mode)  # a session, with its event stream open (legacy)
            await until(lambda: "connected" in got)
            code, took = await served.stopped(timeout_s=10)
            tg.cancel_scope.cancel()
    print(f"HTTP ({mode}) stop, idle session: {took:.2f} s")
    assert code == 0, served.output()
    assert took < min(DEFAULT_GRACE_S - 1, budget(3)), took  # at once, not after the grace
    assert_one_stop_logged(served.output())


# --- stdio --------------------------------------------------------------------------------------------


class StdioPeer:
    """A raw JSON-RPC client on a `serve` process's stdin and stdout."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._buffer = b""

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send((json.dumps(message) + "\n").encode())

    async def answer(self, request_id: int) -> dict[str, Any]:
        """The response to `request_id` (notifications on the way are skipped)."""
        assert self.process.stdout is not None
        while True:
            while b"\n" not in self._buffer:
                self._buffer += await self.process.stdout.receive()
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == request_id:
                return dict(message)

    async def hello(self) -> None:
        client = {"name": "t", "version": "1"}
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
        await self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        await self.answer(0)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, request_id: int, arguments: dict[str, Any]) -> None:
        params = {"name": "extend_volume", "arguments": arguments}
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


async def stdio_stop(process: Process, timeout_s: float) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    with anyio.fail_after(timeout_s):
        code = await process.wait()
    return code, time.monotonic() - started


async def stderr_of(process: Process) -> str:
    assert process.stderr is not None
    chunks = []
    with suppress(anyio.EndOfStream, anyio.ClosedResourceError):
        while True:
            chunks.append(await process.stderr.receive())
    return b"".join(chunks).decode(errors="replace")


async def stderr_until(process: Process, wanted: bytes) -> str:
    """What the process wrote to stderr, up to and including `wanted` (its own notice, rather than a pause)."""
    assert process.stderr is not None
    said = b""
    with anyio.fail_after(budget(10)):
        while wanted not in said:
            said += await process.stderr.receive()
    return said.decode(errors="replace")


@asynccontextmanager
async def stdio_serve(emulator: EmulatorServer, log: Path, **env: str) -> AsyncIterator[tuple[Process, StdioPeer]]:
    """`scp-volume-mcp serve` over stdio (confirm flag, the audit file `log`), initialized: the process and its
    peer."""
    variables = {**os.environ, **scp_env(emulator, SCP_CONFIRMATION="flag", SCP_AUDIT_LOG=str(log), **env)}
    async with await anyio.open_process([sys.executable, "-m", "scp_volume_mcp", "serve"], env=variables) as process:
        peer = StdioPeer(process)
        with anyio.fail_after(budget(20)):  # start-up: grows with the load
            await peer.hello()
        yield process, peer


async def test_stdio_an_extension_in_flight_finishes_new_calls_are_refused_and_it_exits_0(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.add_fault(Fault("extend", latency_s=SLOW_PUT_S))
    log = tmp_path / "audit.jsonl"
    async with stdio_serve(emulator, log) as (process, peer):
        await peer.call(1, ARGS)
        await until(lambda: bool(records(log)))  # the intent: the resize is on its way
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        said = await stderr_until(process, b"scp-volume-mcp: stopping")
        await peer.call(2, {**ARGS, "new_size_gb": 110})  # after the stop began: refused, nothing sent
        with anyio.fail_after(SLOW_PUT_S + 10):
            refused, done = await peer.answer(2), await peer.answer(1)
            code = await process.wait()
        took = time.monotonic() - started
        output = said + await stderr_of(process)
    print(f"stdio stop with an extension finishing: {took:.2f} s")
    assert code == 0, output
    assert took < min(DEFAULT_GRACE_S - 1, SLOW_PUT_S + budget(3)), took  # the extension's end, not the grace's
    assert "stopping" in refused["error"]["message"], refused
    assert not done["result"].get("isError"), done
    intent, outcome = records(log)
    assert (intent["phase"], outcome["phase"], intent["requested_size_gb"]) == ("intent", "outcome", 104)
    assert outcome["outcome"] in ("completed", "accepted")
    assert len(emulator.state.requests("PUT")) == 1
    assert_one_stop_logged(output)


async def test_stdio_past_the_grace_an_extension_is_interrupted_and_recorded(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.settings.extend_seconds = 60
    log = tmp_path / "audit.jsonl"
    async with stdio_serve(emulator, log, SCP_SHUTDOWN_GRACE="1", SCP_POLL_INTERVAL="0.2") as (process, peer):
        await peer.call(1, {**ARGS, "wait": True, "timeout_s": 120})
        await until(lambda: bool(emulator.state.requests("PUT")))
        code, took = await stdio_stop(process, timeout_s=1 + READ_BACK_S + 10)
        output = await stderr_of(process)
    print(f"stdio stop with an extension past a 1 s grace: {took:.2f} s")
    assert code == 0, output
    assert took < min(30, 1 + budget(4)), took  # the 1 s grace and a read back, not the minute-long wait
    intent, outcome = records(log)
    assert intent["phase"] == "intent"
    assert (outcome["phase"], outcome["outcome"]) == ("outcome", "interrupted")
    assert "after the resize request was sent; reading back showed" in outcome["detail"]
    assert len(emulator.state.requests("PUT")) == 1
    assert_one_stop_logged(output)


async def test_stdio_stdin_closed_with_an_extension_in_flight_answers_it_then_exits_0(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # A host that sends a request and closes stdin (a pipe, a host shutting down) still gets its answer: the
    # extension finishes and is recorded instead of being cancelled when the input ends.
    emulator.state.add_fault(Fault("extend", latency_s=SLOW_PUT_S))
    log = tmp_path / "audit.jsonl"
    async with stdio_serve(emulator, log) as (process, peer):
        await peer.call(1, ARGS)
        assert process.stdin is not None
        await process.stdin.aclose()
        with anyio.fail_after(SLOW_PUT_S + 15):
            done = await peer.answer(1)
            code = await process.wait()
        output = await stderr_of(process)
    assert code == 0, output
    assert "result" in done, done
    assert not done["result"].get("isError"), done
    intent, outcome = records(log)
    assert (intent["phase"], outcome["phase"]) == ("intent", "outcome")
    assert outcome["outcome"] in ("completed", "accepted")
    assert len(emulator.state.requests("PUT")) == 1
    assert "Traceback" not in output, output


async def test_stdio_stdin_closed_past_the_grace_interrupts_and_records_the_extension(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.settings.extend_seconds = 60
    log = tmp_path / "audit.jsonl"
    async with stdio_serve(emulator, log, SCP_SHUTDOWN_GRACE="1", SCP_POLL_INTERVAL="0.2") as (process, peer):
        await peer.call(1, {**ARGS, "wait": True, "timeout_s": 120})
        await until(lambda: bool(emulator.state.requests("PUT")))
        assert process.stdin is not None
        await process.stdin.aclose()
        with anyio.fail_after(1 + READ_BACK_S + 10):
            code = await process.wait()
        output = await stderr_of(process)
    assert code == 0, output
    assert "still unanswered after 1 s" in output, output
    intent, outcome = records(log)
    assert intent["phase"] == "intent"
    assert (outcome["phase"], outcome["outcome"]) == ("outcome", "interrupted")
    assert len(emulator.state.requests("PUT")) == 1


# --- the setting --------------------------------------------------------------------------------------


def test_the_grace_setting() -> None:
    assert ServerSettings.from_env({}).shutdown_grace_s == 20.0
    assert ServerSettings.from_env({"SCP_SHUTDOWN_GRACE": "2.5"}).shutdown_grace_s == 2.5
    for bad in ("soon", "-1", "0", "inf", "nan"):
        with pytest.raises(SettingsError, match="SCP_SHUTDOWN_GRACE"):
            ServerSettings.from_env({"SCP_SHUTDOWN_GRACE": bad})

"""Benchmarks with targets, measured side by side in one run so that a noisy machine cancels out.

    python tools/bench.py [--quick] [--json bench-results.json]

1. start-up: spawn `scp-volume-mcp serve` over stdio, initialize, tools/list; alternating with a minimal
   MCPServer with one trivial tool (the SDK's floor), 31 runs. Target: median ratio <= 1.05.
2. per-call overhead: extend_volume (one GET and one PUT against the emulator, zero latency) through an
   in-process MCP client, against the same two signed requests sent with a bare httpx.AsyncClient, and
   against a trivial tool through the same client (the SDK's own floor). No target: issue 20's CPU target is
   withdrawn (issue 29); the figures guard against a regression a person would notice.
3. memory: peak RSS of the server process after 1,000 calls, against the minimal server after 1,000
   calls. Target: ratio <= 1.15, and < 2 MB growth between call 100 and call 1,000.
4. concurrency over streamable HTTP: 100 concurrent clients, 1,000 extend calls on distinct volumes:
   throughput, p50, p99, zero errors.
5. replicas: three `serve --transport http` processes on one PostgreSQL (a throwaway cluster, as the tests
   start one: tests/pg_cluster.py) and one emulator process, behind a round-robin client pool (each client
   holds a session on every replica and sends its calls to them in turn); 100 clients: extends of 1,000
   distinct volumes plus 100 calls colliding on 10 volumes (10 calls per volume, same target, fired together).
   Correct means: exactly one PUT per volume in the emulator's journal, and every call answered as it should:
   a distinct volume's call sent its resize; of a colliding volume's calls exactly one sent it and each other
   one reports `unchanged` or `under_way` (nothing sent) or refuses with "already in progress ... Nothing
   was sent". Anything else (an exception, another error, a second send) is an error. Side by side, the
   same work against one process without audit, one with the file audit, and one replica on PostgreSQL.
   Without PostgreSQL the database rows are skipped, saying so (tests/packaging/test_bench.py fails instead
   when CI=true).

6. latency: every tool call against the emulator delaying each answer by 100 ms (`emulator --latency 100`):
   requests sent, sequential steps the emulator saw, wall time in round trips against the call's floor (the
   round trips its dependencies need) and why; and the resize wait's reads over a 5-minute extension (simulated
   clock). Target: every call within 1.25x its floor.
7. scale: the SCP client listing 20, 1,000 and 10,000 of 10,000 volumes (`emulator --generated-volumes`):
   requests, time, peak memory held (tracemalloc), and streamed (`iter_volumes`: one page at a time).

--quick runs every part with small counts (CI checks that it works; it asserts no timing: only a broken run
fails it). --only SECTION (repeatable) runs only the sections named. --baseline REV runs start-up, per-call,
latency and scale against REV's `server/` too (unpacked with `git archive`), alternating, in the same run.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
from pydantic import SecretStr

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from startup_wait import wait_listening

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("startup", "per_call", "memory", "http", "replicas", "latency", "scale")
LATENCY_MS = 100.0
MINIMAL_SERVER = """
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("minimal")


@mcp.tool()
def ping(text: str) -> str:
    \"\"\"Echo the text.\"\"\"
    return text


mcp.run("stdio")
"""
SCP_ENV = {"SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY, "SCP_SECRET_KEY": EMULATOR_SECRET_KEY, "SCP_CONFIRMATION": "flag"}
TARGETS = {
    "startup_ratio": 1.05,
    "rss_ratio": 1.15,
    "rss_growth_mb": 2.0,
    "latency_ratio": 1.25,
}


PER_CALL_COPIES = (
    "b1e5c0de-0000-4000-8000-000000000001",
    "b1e5c0de-0000-4000-8000-000000000002",
    "b1e5c0de-0000-4000-8000-000000000003",
)
"""Copies of the example volume for the per-call section's other sides (bare requests, the SDK's floor, the durable
trail): each side reads and parses bodies of the same shape as extend_volume's."""


def per_call_volumes() -> list[dict[str, Any]]:
    """The emulator's seeded volumes, plus `PER_CALL_COPIES` of the example volume (attached, with image metadata)."""
    volumes = default_volumes()
    example = next(v for v in volumes if v["id"] == EXAMPLE_VOLUME_ID)
    copies = [{**example, "id": volume_id, "name": f"bench-copy-{n}"} for n, volume_id in enumerate(PER_CALL_COPIES)]
    return [*volumes, *copies]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], log: Path | None = None, timeout_s: float = 30) -> None:
    """Once `process` listens on `port`; otherwise an error with the end of its `log` (its stderr). The limit
    grows with the machine's load (tools/startup_wait.py)."""

    def printed() -> str:
        return log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""

    wait_listening(port, process, printed, what=f"process {process.args!r}", base_s=timeout_s)


@contextmanager
def emulator_process(volumes: list[dict[str, Any]] | None = None, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """The emulator in its own process, so it does not share a GIL with what is measured."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        args = [sys.executable, "-m", "scp_volume_mcp", "emulator", "--port", str(port), "--extend-seconds", "0",
                *extra]  # fmt: skip
        if volumes is not None:
            path = Path(folder) / "volumes.json"
            path.write_text(json.dumps(volumes))
            args += ["--volumes", str(path)]
        log = Path(folder) / "emulator.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            wait_for_port(port, process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def bench_volumes(ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"bench-{n}", "size": 16, "state": "available", "servers": []} for n, i in enumerate(ids)]


@contextmanager
def http_servers(endpoint: str, envs: list[dict[str, str]], logs: Path) -> Iterator[list[str]]:
    """One `serve --transport http --no-auth` process per environment, all on the one emulator; their URLs.
    --no-auth: a loopback benchmark; the token check it skips is one constant-time compare per request."""
    base = {k: v for k, v in os.environ.items() if k not in ("SCP_AUDIT_LOG", "SCP_DATABASE_URL")}
    started: list[tuple[subprocess.Popen[Any], int, Path]] = []
    try:
        for number, extra in enumerate(envs, 1):
            port, log = free_port(), logs / f"server-{number}-{uuid.uuid4().hex[:6]}.log"
            with log.open("w") as stderr:
                process = subprocess.Popen(
                    [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port),
                     "--no-auth"],
                    env={**base, **SCP_ENV, "SCP_ENDPOINT": endpoint, **extra},
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )  # fmt: skip
            started.append((process, port, log))
        for process, port, log in started:
            wait_for_port(port, process, log)
        yield [f"http://127.0.0.1:{port}/mcp" for _, port, _ in started]
    finally:
        for process, _, _ in started:
            process.terminate()
        for process, _, _ in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


class StdioServer:
    """A bare JSON-RPC driver over a child's stdio: no client library between us and the clock, and the pid."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
            text=True,
            bufsize=1,
        )
        self._ids = 0

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._ids += 1
        message = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}}
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{method}: the server closed its stdout")
            answer = json.loads(line)
            if answer.get("id") == self._ids:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def initialize(self) -> None:
        assert self.process.stdin is not None
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
        )
        self.process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        self.process.stdin.flush()

    def memory_kb(self) -> tuple[int, int]:
        """(current RSS, peak RSS) of the server process, from /proc."""
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
            if ":" in line
        )
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


BASELINE: Path | None = None
"""The `server/` folder of the code compared against (--baseline), or None."""


def baseline_env() -> dict[str, str]:
    """The environment that makes a child import the baseline's `scp_volume_mcp` (PYTHONPATH comes first)."""
    assert BASELINE is not None
    return {"PYTHONPATH": str(BASELINE)}


def servers(minimal_path: Path) -> dict[str, list[str]]:
    found = {
        "scp-volume-mcp": [sys.executable, "-m", "scp_volume_mcp", "serve"],
        "minimal MCPServer": [sys.executable, str(minimal_path)],
    }
    if BASELINE is not None:
        found["baseline"] = found["scp-volume-mcp"]
    return found


# --- 1. start-up ----------------------------------------------------------------------------------


def bench_startup(minimal_path: Path, runs: int, endpoint: str) -> dict[str, Any]:
    argvs = servers(minimal_path)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    env = {**SCP_ENV, "SCP_ENDPOINT": endpoint}
    order = list(argvs.items())
    for run in range(runs):  # alternate, so drift hits all alike; each run starts with the next one
        for name, argv in order[run % len(order) :] + order[: run % len(order)]:
            started = time.perf_counter()
            server = StdioServer(argv, {**env, **baseline_env()} if name == "baseline" else env)
            server.initialize()
            tools = server.request("tools/list")["tools"]
            times[name].append((time.perf_counter() - started) * 1000)
            assert tools, name
            server.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["minimal MCPServer"]

    def ratios(name: str, against: str = "minimal MCPServer") -> dict[str, float]:
        """The ratio of medians, and the median of each run's own ratio (a run's pair shares its moment)."""
        pairs = [ours / theirs for ours, theirs in zip(times[name], times[against], strict=True)]
        return {
            "of_medians": round(medians[name] / medians[against], 3),
            "median_of_pairs": round(statistics.median(pairs), 3),
        }

    before = {"baseline_ratio": ratios("baseline")["of_medians"]} if "baseline" in times else {}
    return {
        "runs": runs,
        "median_ms": {name: round(value, 1) for name, value in medians.items()},
        "ratio": round(medians["scp-volume-mcp"] / floor, 3),
        "ratios": ratios("scp-volume-mcp"),
        **before,
        "target_ratio": TARGETS["startup_ratio"],
        "own_imports_ms": own_import_ms(),
    }


def own_import_ms() -> dict[str, float]:
    """`python -X importtime` of what stdio serving imports: the SDK's share, and what this project adds."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import scp_volume_mcp.cli, scp_volume_mcp.server"],
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            cumulative[parts[2]] = int(parts[1]) / 1000  # top-level entries (no leading spaces) only
    total = cumulative.get("scp_volume_mcp.server", 0.0) + cumulative.get("scp_volume_mcp.cli", 0.0)
    shares = {name: cumulative.get(name, 0.0) for name in ("mcp", "pydantic", "httpx")}
    return {
        "total": round(total, 1),
        **{name: round(value, 1) for name, value in shares.items()},
        "scp_volume_mcp itself": round(total - sum(shares.values()), 1),
    }


# --- 2. per-call overhead -------------------------------------------------------------------------


async def _per_call(endpoint: str, calls: int) -> dict[str, Any]:
    # The SDK's method is wrapped only while this runs, whatever ends it.
    with tempfile.TemporaryDirectory(prefix="bench-trail-") as folder, _SchemaCheckTimer() as checks:
        return await _per_call_timed(endpoint, calls, Path(folder) / "audit.jsonl", checks)


async def _per_call_timed(endpoint: str, calls: int, trail: Path, checks: _SchemaCheckTimer) -> dict[str, Any]:
    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    from scp_volume_mcp.scp import ScpAuth, ScpClient, load_config
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    config = load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=endpoint, env={})
    # The seeded sizes again (a --baseline child measures after this process grew the volumes).
    async with httpx.AsyncClient() as control:
        (await control.post(f"{endpoint}/_emulator/reset", json={})).raise_for_status()
    server = build_server(ServerSettings(confirmation="flag"), lambda: ScpClient(config))
    durable = build_server(ServerSettings(confirmation="flag", audit_log=trail), lambda: ScpClient(config))
    # Every side extends a volume shaped like the example (attached, with image metadata), so that each reads and
    # parses the same bodies: copies seeded by `per_call_volumes`.
    bare_id, floor_id, durable_id = PER_CALL_COPIES

    def bare_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=endpoint,
            auth=ScpAuth(EMULATOR_ACCESS_KEY, SecretStr(EMULATOR_SECRET_KEY)),
            headers={"Scp-Api-Version": "virtualserver 1.3"},
        )

    bare, floor_http = bare_client(), bare_client()
    floor = MCPServer("floor")

    @floor.tool()
    def ping(text: str) -> str:
        return text

    @floor.tool()
    async def same_requests(volume_id: str, size: int) -> str:
        """The SDK's floor for this work: the same GET and PUT, bare, returning a string."""
        (await floor_http.get(f"/v1/volumes/{volume_id}")).raise_for_status()
        (await floor_http.put(f"/v1/volumes/{volume_id}/size", json={"size": size})).raise_for_status()
        return "ok"

    samples: dict[str, list[float]] = {
        "extend_volume via MCP": [],
        "extend_volume via MCP, file trail": [],
        "bare GET+PUT": [],
        "same GET+PUT in a bare MCP tool": [],
        "trivial tool via MCP": [],
    }
    cpu: dict[str, list[float]] = {k: [] for k in samples}
    """The same calls' CPU time in this process (server, client and SDK; the emulator is another process):
    less moved by other work on the machine than wall time."""
    ours_size = bare_size = floor_size = durable_size = 104  # every volume here starts at the example's 100 GB
    async with Client(server) as client, Client(floor) as floor_client, Client(durable) as durable_client:
        await client.call_tool("list_volumes", {"limit": 1})  # warm: client, connection, quota cache
        await durable_client.call_tool("list_volumes", {"limit": 1})
        hot_loop_check_ms = await _client_output_validation_ms(client, EXAMPLE_VOLUME_ID, ours_size)
        ours_size += 8
        for batch in range(calls // 25):
            for _ in range(25):
                started, cpu_started = time.perf_counter(), time.process_time()
                with checks.counting("extend_volume via MCP"):
                    result = await client.call_tool(
                        "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": ours_size, "confirm": True}
                    )
                samples["extend_volume via MCP"].append(time.perf_counter() - started)
                cpu["extend_volume via MCP"].append(time.process_time() - cpu_started)
                assert not result.is_error, result.content
                ours_size += 8
            for _ in range(25):  # the durable intent and outcome: two fsynced lines, and the open attempts read
                started, cpu_started = time.perf_counter(), time.process_time()
                arguments = {"volume_id": durable_id, "new_size_gb": durable_size, "confirm": True}
                result = await durable_client.call_tool("extend_volume", arguments)
                samples["extend_volume via MCP, file trail"].append(time.perf_counter() - started)
                cpu["extend_volume via MCP, file trail"].append(time.process_time() - cpu_started)
                assert not result.is_error, result.content
                durable_size += 8
            for _ in range(25):
                started, cpu_started = time.perf_counter(), time.process_time()
                (await bare.get(f"/v1/volumes/{bare_id}")).raise_for_status()
                (await bare.put(f"/v1/volumes/{bare_id}/size", json={"size": bare_size})).raise_for_status()
                samples["bare GET+PUT"].append(time.perf_counter() - started)
                cpu["bare GET+PUT"].append(time.process_time() - cpu_started)
                bare_size += 8
            for _ in range(25):
                started, cpu_started = time.perf_counter(), time.process_time()
                with checks.counting("same GET+PUT in a bare MCP tool"):
                    await floor_client.call_tool("same_requests", {"volume_id": floor_id, "size": floor_size})
                samples["same GET+PUT in a bare MCP tool"].append(time.perf_counter() - started)
                cpu["same GET+PUT in a bare MCP tool"].append(time.process_time() - cpu_started)
                floor_size += 8
            for _ in range(25):
                started, cpu_started = time.perf_counter(), time.process_time()
                await floor_client.call_tool("ping", {"text": str(batch)})
                samples["trivial tool via MCP"].append(time.perf_counter() - started)
                cpu["trivial tool via MCP"].append(time.process_time() - cpu_started)
    await bare.aclose()
    await floor_http.aclose()
    medians = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    cpu_ms = {k: statistics.mean(v) * 1000 for k, v in cpu.items()}
    check_ms = {k: checks.seconds[k] / len(cpu[k]) * 1000 for k in checks.seconds}
    # The SDK client checks every structured result against its tool's output schema (the floor's `{"result":
    # str}` too): what that check costs beyond the floor's own is the SDK's, not ours.
    validation_ms = check_ms["extend_volume via MCP"] - check_ms["same GET+PUT in a bare MCP tool"]
    cpu_beyond = cpu_ms["extend_volume via MCP"] - cpu_ms["same GET+PUT in a bare MCP tool"] - validation_ms
    overhead = medians["extend_volume via MCP"] - medians["bare GET+PUT"]
    sdk_floor = medians["same GET+PUT in a bare MCP tool"] - medians["bare GET+PUT"]
    return {
        "calls": len(samples["bare GET+PUT"]),
        "median_ms": {k: round(v, 3) for k, v in medians.items()},
        "overhead_ms": round(overhead, 3),
        "sdk_floor_ms": round(sdk_floor, 3),
        "sdk_client_output_validation_ms": round(validation_ms, 3),
        "sdk_client_check_in_flow_ms": {k: round(v, 3) for k, v in check_ms.items()},
        "sdk_client_check_hot_loop_ms": round(hot_loop_check_ms, 3),
        "overhead_beyond_sdk_ms": round(overhead - sdk_floor - validation_ms, 3),
        "durable_trail_ms": round(medians["extend_volume via MCP, file trail"] - medians["extend_volume via MCP"], 3),
        "cpu_ms": {k: round(v, 3) for k, v in cpu_ms.items()},
        "cpu_beyond_sdk_ms": round(cpu_beyond, 3),
        "durable_trail_cpu_ms": round(cpu_ms["extend_volume via MCP, file trail"] - cpu_ms["extend_volume via MCP"], 3),
    }


class _SchemaCheckTimer:
    """The CPU time the SDK's client spends in `validate_tool_result` (its check of every structured result against
    the tool's output schema, with jsonschema), per kind of call, timed in the flow of the calls themselves: the
    same check repeated in a loop runs with warm caches and costs less than it does between two requests."""

    def __init__(self) -> None:
        from mcp.client.session import ClientSession
        from mcp.types import CallToolResult

        self.seconds: dict[str, float] = {}
        self._kind: str | None = None
        self._original = ClientSession.validate_tool_result
        original = self._original

        async def timed(session: ClientSession, name: str, result: CallToolResult) -> None:
            started = time.process_time()
            try:
                await original(session, name, result)
            finally:
                if self._kind is not None:
                    self.seconds[self._kind] = self.seconds.get(self._kind, 0.0) + time.process_time() - started

        setattr(ClientSession, "validate_tool_result", timed)  # noqa: B010 (a bench's timer around the SDK's method)

    def __enter__(self) -> _SchemaCheckTimer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    @contextmanager
    def counting(self, kind: str) -> Iterator[None]:
        self._kind = kind
        try:
            yield
        finally:
            self._kind = None

    def restore(self) -> None:
        from mcp.client.session import ClientSession

        setattr(ClientSession, "validate_tool_result", self._original)  # noqa: B010


async def _client_output_validation_ms(client: Any, volume_id: str, size: int) -> float:
    """What the SDK's client spends checking extend_volume's structuredContent against its outputSchema
    (it does so on every call, with jsonschema), timed by repeating that same check in a loop (warm caches: less
    than in the flow of calls, which `_SchemaCheckTimer` measures; kept for comparison with earlier runs)."""
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    tools = {t.name: t for t in (await client.list_tools()).tools}
    result = await client.call_tool("extend_volume", {"volume_id": volume_id, "new_size_gb": size, "confirm": True})
    schema = tools["extend_volume"].output_schema
    validator = validator_for(schema)(schema)
    started = time.perf_counter()
    for _ in range(500):
        assert exceptions.best_match(validator.iter_errors(result.structured_content)) is None
    return (time.perf_counter() - started) / 500 * 1000


def bench_per_call(endpoint: str, calls: int) -> dict[str, Any]:
    result: dict[str, Any] = anyio.run(_per_call, endpoint, calls)
    if BASELINE is not None:  # the same measurement of the baseline's code, in a child that imports it
        result["baseline"] = _child_json(
            [str(HERE / "bench.py"), "--per-call-child", endpoint, str(calls)], {**os.environ, **baseline_env()}
        )
    return result


def _child_json(args: list[str], env: dict[str, str] | None = None) -> Any:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- 6. latency and 7. scale (tools/bench_latency.py, run for this tree and for the baseline) ------------


def _latency_children(args: list[str]) -> dict[str, Any]:
    """tools/bench_latency.py ARGS for this tree and, with --baseline, for the baseline's, one after the other."""
    found = {"now": _child_json([str(HERE / "bench_latency.py"), *args])}
    if BASELINE is not None:
        found["before"] = _child_json([str(HERE / "bench_latency.py"), *args], {**os.environ, **baseline_env()})
    return found


def bench_latency(repeats: int) -> dict[str, Any]:
    extra = ("--latency", str(LATENCY_MS), "--snapshot-seconds", "0")
    with emulator_process(extra=extra) as endpoint:
        calls = _latency_children(["calls", endpoint, str(LATENCY_MS), str(repeats)])
    return {"calls": calls, "wait": _latency_children(["wait"])}


def bench_scale() -> dict[str, Any]:
    with emulator_process(extra=("--generated-volumes", "10000")) as endpoint:
        return _latency_children(["scale", endpoint])


# --- 3. memory ------------------------------------------------------------------------------------


def bench_memory(minimal_path: Path, calls: int, endpoint: str) -> dict[str, Any]:
    env = {**SCP_ENV, "SCP_ENDPOINT": endpoint}
    report: dict[str, Any] = {"calls": calls}
    for name, argv in servers(minimal_path).items():
        if name == "baseline":
            continue
        server = StdioServer(argv, env)
        server.initialize()
        at_100 = 0
        for index in range(1, calls + 1):
            if name == "scp-volume-mcp":
                # Reads and refused extensions: the full guard path, without growing anything.
                arguments = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 96, "confirm": True}
                result = server.request("tools/call", {"name": "extend_volume", "arguments": arguments})
            else:
                result = server.request("tools/call", {"name": "ping", "arguments": {"text": str(index)}})
            assert result.get("content"), result
            if index == min(100, calls):
                at_100 = server.memory_kb()[0]
        rss, peak = server.memory_kb()
        report[name] = {"peak_rss_mb": round(peak / 1024, 2), "growth_100_to_end_mb": round((rss - at_100) / 1024, 3)}
        server.close()
    report["peak_ratio"] = round(
        report["scp-volume-mcp"]["peak_rss_mb"] / report["minimal MCPServer"]["peak_rss_mb"], 3
    )
    report["target_ratio"] = TARGETS["rss_ratio"]
    report["target_growth_mb"] = TARGETS["rss_growth_mb"]
    return report


# --- 4. concurrency over streamable HTTP ------------------------------------------------------------


async def _http_load(url: str, volume_ids: list[str], clients: int) -> dict[str, Any]:
    from mcp import Client

    latencies: list[float] = []
    errors: list[str] = []
    per_client = [volume_ids[i::clients] for i in range(clients)]

    async def worker(ids: list[str]) -> None:
        async with Client(url) as client:
            for volume_id in ids:
                started = time.perf_counter()
                try:
                    result = await client.call_tool(
                        "extend_volume", {"volume_id": volume_id, "new_size_gb": 24, "confirm": True}
                    )
                except Exception as exc:  # a benchmark counts failures instead of stopping at the first
                    errors.append(repr(exc))
                    continue
                latencies.append(time.perf_counter() - started)
                if result.is_error:
                    errors.append(str(result.content))

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for ids in per_client:
            group.start_soon(worker, ids)
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "calls": len(volume_ids),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1) if ordered else None,
    }


def bench_http(calls: int, clients: int) -> dict[str, Any]:
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(calls)]
    with (
        emulator_process(bench_volumes(ids)) as endpoint,
        tempfile.TemporaryDirectory() as logs,
        http_servers(endpoint, [{}], Path(logs)) as [url],
    ):
        result: dict[str, Any] = anyio.run(_http_load, url, ids, clients)
    return result


# --- 5. replicas on one PostgreSQL ------------------------------------------------------------------

TARGET_GB = 24
IN_PROGRESS = "already in progress"  # messages.REASON_IN_PROGRESS, inside a refusal that ends "Nothing was sent."
REPLICAS_CORRECT = (
    "correct = exactly one PUT per volume (the emulator's journal), at the target size; every distinct volume's "
    "call sent it; of each colliding volume's calls exactly one sent it and the others answered `unchanged` or "
    "refused 'already in progress ... Nothing was sent'; no other error; and, with an audit trail, one intent per "
    "PUT and one outcome per call"
)


def _result_text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def classify(result: Any, colliding: bool) -> str:
    """`sent` (this call sent the resize), `unchanged` or `in progress` (a colliding call that found the
    volume resized, or being resized, and sent nothing), or `error: ...` for anything else."""
    if result.is_error:
        text = _result_text(result)
        if colliding and IN_PROGRESS in text and "Nothing was sent" in text:
            return "in progress"
        return f"error: {text[:300]}"
    content = result.structured_content or {}
    if content.get("request_sent") and content.get("outcome") in ("completed", "accepted"):
        return "sent"
    if colliding and content.get("outcome") in ("unchanged", "under_way") and not content.get("request_sent"):
        return "unchanged"
    return f"error: unexpected result {content.get('outcome')!r}, request_sent={content.get('request_sent')!r}"


class _Meeting:
    """A point every client passes once (also a client whose session failed, so as not to leave the others
    waiting); `arrive` waits for all of them unless told not to. `at` is when the last one arrived."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived: set[int] = set()
        self.everyone = anyio.Event()
        self.at: float | None = None

    async def arrive(self, client: int, wait: bool = True) -> None:
        self.arrived.add(client)
        if len(self.arrived) == self.parties and self.at is None:
            self.at = time.perf_counter()
            self.everyone.set()
        if wait:
            await self.everyone.wait()


def _leaves(exc: BaseException) -> tuple[BaseException, ...]:
    """The exceptions inside nested single-member exception groups (what a failed client session raises)."""
    leaves = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = leaves[0].exceptions
    return leaves


def _percentile_ms(ordered: list[float], fraction: float) -> float | None:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000, 1) if ordered else None


Plan = tuple[list[str], list[str], list[str]]
"""One client's calls: its first distinct volumes, its share of the colliding calls, its other distinct volumes."""


class _PoolLoad:
    """The clients of `_pool_load` and what they measured."""

    def __init__(self, urls: list[str], clients: int) -> None:
        self.urls = urls
        self.connected = _Meeting(clients)
        self.middle = _Meeting(clients)
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.outcomes: dict[str, dict[str, int]] = {}  # colliding volume -> kind -> count
        self.made: dict[int, int] = {}  # client -> calls made
        self.end = 0.0

    async def call(self, client: int, sessions: list[Any], volume_id: str, is_colliding: bool) -> None:
        session = sessions[self.made[client] % len(sessions)]
        self.made[client] += 1
        started = time.perf_counter()
        try:
            result = await session.call_tool(
                "extend_volume", {"volume_id": volume_id, "new_size_gb": TARGET_GB, "confirm": True}
            )
        except Exception as exc:  # a benchmark counts failures instead of stopping at the first
            self.errors.append(f"{volume_id}: {exc!r}")
            return
        self.latencies.append(time.perf_counter() - started)
        kind = classify(result, is_colliding)
        if kind.startswith("error"):
            self.errors.append(f"{volume_id}: {kind}")
        if is_colliding:
            counts = self.outcomes.setdefault(volume_id, {})
            counts[kind] = counts.get(kind, 0) + 1

    async def worker(self, client: int, plan: Plan) -> None:
        from mcp import Client

        first, collide, rest = plan
        self.made[client] = 0
        try:
            async with AsyncExitStack() as stack:
                turn = client % len(self.urls)
                urls = self.urls[turn:] + self.urls[:turn]
                sessions = [await stack.enter_async_context(Client(url)) for url in urls]
                await self.connected.arrive(client)
                for volume_id in first:
                    await self.call(client, sessions, volume_id, False)
                await self.middle.arrive(client)
                for volume_id in collide:
                    await self.call(client, sessions, volume_id, True)
                for volume_id in rest:
                    await self.call(client, sessions, volume_id, False)
                self.end = max(self.end, time.perf_counter())
        except Exception as exc:  # the session itself failed (its transport raised out of the client)
            made = self.made[client]
            left = len(first) + len(collide) + len(rest) - made
            self.errors.append(f"client {client}: its session failed after {made} calls ({left} not made): "
                               f"{_leaves(exc)!r}")  # fmt: skip
            for meeting in (self.connected, self.middle):  # do not leave the others waiting for this client
                if client not in meeting.arrived:
                    await meeting.arrive(client, wait=False)

    def colliding_totals(self) -> dict[str, int]:
        """Outcomes of the colliding calls, summed over volumes; a volume not resized exactly once is an error."""
        totals: dict[str, int] = {}
        for volume_id, counts in self.outcomes.items():
            if counts.get("sent", 0) != 1:
                self.errors.append(f"{volume_id}: {counts.get('sent', 0)} of its colliding calls sent a resize, not 1")
            for kind, count in counts.items():
                totals[kind] = totals.get(kind, 0) + count
        return dict(sorted(totals.items()))


async def _pool_load(urls: list[str], distinct: list[str], colliding: list[str], per_volume: int,
                     clients: int) -> dict[str, Any]:  # fmt: skip
    """`clients` clients, each with a session on every replica, sending call i to replica (client + i) mod n.
    Each client first does half of its distinct volumes; then all wait for each other and fire the colliding
    calls together (call j of the colliding ones by client j mod clients), then the rest."""
    plans: list[Plan] = []
    collide_calls = [volume for volume in colliding for _ in range(per_volume)]
    for c in range(clients):
        mine = distinct[c::clients]
        plans.append((mine[: len(mine) // 2], collide_calls[c::clients], mine[len(mine) // 2 :]))
    load = _PoolLoad(urls, clients)
    async with anyio.create_task_group() as group:
        for client, plan in enumerate(plans):
            group.start_soon(load.worker, client, plan)
    assert load.connected.at is not None  # every client arrives, failed or not
    elapsed = (load.end or time.perf_counter()) - load.connected.at
    totals = load.colliding_totals()
    ordered = sorted(load.latencies)
    return {
        "replicas": len(urls),
        "clients": clients,
        "calls": len(distinct) + len(collide_calls),
        "errors": len(load.errors),
        "first_errors": load.errors[:3],
        "colliding_outcomes": totals,
        "seconds": round(elapsed, 2),
        "throughput_per_s": round(len(load.latencies) / elapsed, 1),
        "p50_ms": _percentile_ms(ordered, 0.5),
        "p99_ms": _percentile_ms(ordered, 0.99),
    }


def puts_per_volume(endpoint: str, volume_ids: list[str]) -> dict[str, Any]:
    """Resizes the emulator received, per volume, from its journal (a control route: loopback Host)."""
    journal = httpx.get(f"{endpoint}/_emulator/journal", timeout=60).raise_for_status().json()["requests"]
    counts = dict.fromkeys(volume_ids, 0)
    wrong_size = 0
    for entry in journal:
        if entry["method"] == "PUT" and entry["path"].endswith("/size"):
            volume_id = entry["path"].split("/")[-2]
            counts[volume_id] = counts.get(volume_id, 0) + 1
            wrong_size += entry["body"] != {"size": TARGET_GB}
    per_count: dict[int, int] = {}
    for count in counts.values():
        per_count[count] = per_count.get(count, 0) + 1
    return {
        "volumes": len(volume_ids),
        "puts": sum(counts.values()),
        "volumes_by_put_count": {str(k): v for k, v in sorted(per_count.items())},
        "puts_with_another_size": wrong_size,
        "exactly_one_each": all(counts[v] == 1 for v in volume_ids) and len(counts) == len(volume_ids),
    }


def audit_counts_file(path: Path) -> dict[str, int]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    phases = [line.get("phase") for line in lines]  # `close` records (a read settled an attempt) are not counted
    return {"intents": phases.count("intent"), "outcomes": phases.count("outcome")}


def audit_counts_database(url: str, replicas: list[str]) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT phase, count(*) FROM scp_volume_audit WHERE replica = ANY(%s) GROUP BY phase", (replicas,)
        ).fetchall()
    found = {str(phase): int(count) for phase, count in rows}
    return {"intents": found.get("intent", 0), "outcomes": found.get("outcome", 0)}


def pg_cluster() -> Any:
    """The tests' PostgreSQL helpers (tests/pg_cluster.py). Raises ImportError without tests/."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests import pg_cluster
    finally:
        sys.path.remove(str(ROOT))
    return pg_cluster


def postgres_cluster() -> Any:
    """A throwaway PostgreSQL cluster, started as the tests start theirs (tests/pg_cluster.py; also as root):
    a context manager yielding its URL. Raises `PostgresUnavailable` (or ImportError without tests/) on entry."""
    return pg_cluster().postgres_cluster()


def bench_replicas(distinct_count: int, colliding_count: int, per_volume: int, clients: int,
                   replicas: int) -> dict[str, Any]:  # fmt: skip
    distinct = [str(uuid.UUID(int=i + 1, version=4)) for i in range(distinct_count)]
    colliding = [str(uuid.UUID(int=10**6 + i, version=4)) for i in range(colliding_count)]
    report: dict[str, Any] = {"distinct_volumes": distinct_count, "colliding_volumes": colliding_count,
                              "calls_per_colliding_volume": per_volume, "target_gb": TARGET_GB, "runs": []}  # fmt: skip

    def run(name: str, envs: list[dict[str, str]], audit: Callable[[], dict[str, int]] | None) -> None:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        with emulator_process(bench_volumes(distinct + colliding)) as endpoint, tempfile.TemporaryDirectory() as logs:
            with http_servers(endpoint, envs, Path(logs)) as urls:
                load = anyio.run(_pool_load, urls, distinct, colliding, per_volume, clients)
            if load["errors"]:  # what the servers said, for the report
                load["server_logs"] = {log.name: log.read_text()[-1500:] for log in sorted(Path(logs).iterdir())}
            journal = puts_per_volume(endpoint, distinct + colliding)
        trail = audit() if audit is not None else None
        correct = load["errors"] == 0 and journal["exactly_one_each"] and journal["puts_with_another_size"] == 0
        if trail is not None:
            correct = correct and trail == {"intents": journal["puts"], "outcomes": load["calls"]}
        report["runs"].append({"name": name, **load, "journal": journal, "audit": trail, "correct": correct})

    with tempfile.TemporaryDirectory() as folder:
        run("1 process, no audit", [{"SCP_AUDIT_LOG": "off"}], None)
        log = Path(folder) / "audit.jsonl"
        run("1 process, file audit", [{"SCP_AUDIT_LOG": str(log)}], lambda: audit_counts_file(log))
        try:
            cluster = postgres_cluster()
            url = cluster.__enter__()
        except (RuntimeError, ImportError) as exc:  # PostgresUnavailable is a RuntimeError
            report["postgres_skipped"] = f"PostgreSQL not available: {exc}"
            print(f"  replicas on PostgreSQL: SKIPPED: {report['postgres_skipped']}", file=sys.stderr, flush=True)
            return report
        try:
            for count in (1, replicas):
                # A fresh database per setup: each starts a fresh emulator with the same volume ids at their old
                # sizes, so it must not see the last setup's open attempts.
                database = pg_cluster().fresh_database(url, f"bench_{count}_{uuid.uuid4().hex[:8]}")
                names = [f"bench-{count}r-{n}" for n in range(1, count + 1)]
                envs = [{"SCP_DATABASE_URL": database, "SCP_REPLICA_NAME": name} for name in names]
                label = f"{count} replica{'s' if count > 1 else ''}, PostgreSQL"
                run(label, envs, functools.partial(audit_counts_database, database, names))
        finally:
            cluster.__exit__(None, None, None)
    return report


# --- report ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mcp": _version("mcp"),
        "httpx": _version("httpx"),
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    if "startup" in results:
        startup = results["startup"]
        rows.append(("start-up ratio (vs minimal MCPServer)", f"{startup['ratio']:.3f}",
                     f"<= {TARGETS['startup_ratio']}", startup["ratio"] <= TARGETS["startup_ratio"]))  # fmt: skip
        rows.append(("  median of each run's ratio", f"{startup['ratios']['median_of_pairs']:.3f}", "", True))
    if "per_call" in results:
        call = results["per_call"]
        rows += [
            # Informational: issue 20's CPU targets are withdrawn (issue 29); a person and a far region are what
            # users wait for, and the latency section guards the round trips.
            ("per-call overhead vs bare httpx (ms)", f"{call['overhead_ms']:.3f}", "", True),
            ("  SDK floor: same requests in a bare MCP tool (ms)", f"{call['sdk_floor_ms']:.3f}", "", True),
            ("  SDK client's check of our output schema, beyond the floor's (ms)",
             f"{call['sdk_client_output_validation_ms']:.3f}", "",
             True),
            ("  the rest: resolvers, guards, results (ms)", f"{call['overhead_beyond_sdk_ms']:.3f}", "", True),
            ("CPU per extend_volume beyond the SDK's floor and schema check (ms)", f"{call['cpu_beyond_sdk_ms']:.3f}",
             "", True),
            ("durable trail per extend_volume: intent, outcome, open attempts (ms)",
             f"{call['durable_trail_ms']:.3f}", "", True),
        ]  # fmt: skip
    if "memory" in results:
        memory = results["memory"]
        growth = memory["scp-volume-mcp"]["growth_100_to_end_mb"]
        rows += [
            ("peak RSS ratio (vs minimal MCPServer)", f"{memory['peak_ratio']:.3f}", f"<= {TARGETS['rss_ratio']}",
             memory["peak_ratio"] <= TARGETS["rss_ratio"]),
            (f"RSS growth, call 100 to {memory['calls']} (MB)", f"{growth:.3f}", f"< {TARGETS['rss_growth_mb']}",
             growth < TARGETS["rss_growth_mb"]),
        ]  # fmt: skip
    if "http" in results:
        http = results["http"]
        rows += [
            (f"HTTP: {http['clients']} clients, {http['calls']} extends: errors", str(http["errors"]), "0",
             http["errors"] == 0),
            ("HTTP throughput (calls/s), p50 / p99 (ms)",
             f"{http['throughput_per_s']}, {http['p50_ms']} / {http['p99_ms']}", "", True),
        ]  # fmt: skip
    if "latency" in results:
        for row in results["latency"]["calls"]["now"]["rows"]:
            rows.append((f"at {LATENCY_MS:g} ms: {row['call']} (x floor {row['floor']})", f"{row['ratio']:.2f}",
                         f"<= {TARGETS['latency_ratio']}", row["ratio"] <= TARGETS["latency_ratio"]))  # fmt: skip
    if "replicas" in results:
        for run in results["replicas"]["runs"]:
            rows.append((f"{run['name']}: {run['calls']} calls, correct", "yes" if run["correct"] else "NO", "yes",
                         run["correct"]))  # fmt: skip
            rows.append(("  calls/s, p50 / p99 (ms)",
                         f"{run['throughput_per_s']}, {run['p50_ms']} / {run['p99_ms']}", "", True))  # fmt: skip
        if "postgres_skipped" in results["replicas"]:
            rows.append(("replicas on PostgreSQL", "SKIPPED", "", True))
    return rows


def run_sections(sections: set[str], quick: bool) -> dict[str, Any]:
    runs, calls, memory_calls, http_calls, clients = (2, 50, 120, 40, 10) if quick else (31, 1000, 1000, 1000, 100)
    # distinct volumes, colliding volumes, calls per colliding volume, clients, replicas
    replicas = (30, 2, 5, 10, 3) if quick else (1000, 10, 10, 100, 3)
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    if sections & {"startup", "per_call", "memory"}:
        with tempfile.TemporaryDirectory() as folder:
            minimal_path = Path(folder) / "minimal_server.py"
            minimal_path.write_text(MINIMAL_SERVER)
            with emulator_process(per_call_volumes()) as endpoint:
                if "startup" in sections:
                    print("start-up ...", file=sys.stderr, flush=True)
                    results["startup"] = bench_startup(minimal_path, runs, endpoint)
                if "per_call" in sections:
                    print("per-call overhead ...", file=sys.stderr, flush=True)
                    results["per_call"] = bench_per_call(endpoint, calls)
                if "memory" in sections:
                    print("memory ...", file=sys.stderr, flush=True)
                    results["memory"] = bench_memory(minimal_path, memory_calls, endpoint)
    if "http" in sections:
        print("concurrency over HTTP ...", file=sys.stderr, flush=True)
        results["http"] = bench_http(http_calls, clients)
    if "replicas" in sections:
        print("replicas ...", file=sys.stderr, flush=True)
        results["replicas"] = bench_replicas(*replicas)
    if "latency" in sections:
        print(f"latency ({LATENCY_MS:g} ms per request) ...", file=sys.stderr, flush=True)
        results["latency"] = bench_latency(1 if quick else 7)
    if "scale" in sections:
        print("scale (10,000 volumes) ...", file=sys.stderr, flush=True)
        results["scale"] = bench_scale()
    return results


def print_report(results: dict[str, Any], rows: list[tuple[str, str, str, bool]]) -> None:
    print(f"\n{'measure':68} {'value':>22}  {'target':>8}")
    for measure, value, target, ok in rows:
        mark = "" if not target else ("  ok" if ok else "  MISSED")
        print(f"{measure:68} {value:>22}  {target:>8}{mark}")
    if "startup" in results:
        print(f"\nstart-up medians (ms): {results['startup']['median_ms']}")
    if "startup" in results and "baseline_ratio" in results["startup"]:
        print(f"start-up ratio of the baseline, same run: {results['startup']['baseline_ratio']}")
    if "per_call" in results:
        print(f"per-call medians (ms): {results['per_call']['median_ms']}")
        if "baseline" in results["per_call"]:
            before = results["per_call"]["baseline"]
            print(f"baseline, same run: overhead {before['overhead_ms']} ms, beyond the SDK "
                  f"{before['overhead_beyond_sdk_ms']} ms (CPU {before.get('cpu_beyond_sdk_ms')} ms), durable trail "
                  f"{before['durable_trail_ms']} ms (CPU {before.get('durable_trail_cpu_ms')} ms)")  # fmt: skip
        print(f"per-call CPU means (ms): {results['per_call']['cpu_ms']}")
    if "latency" in results:
        print_latency(results["latency"])
    if "scale" in results:
        print_scale(results["scale"])
    if "replicas" in results:
        print(f"\nreplicas: {REPLICAS_CORRECT}")
        for run in results["replicas"]["runs"]:
            print(f"  {run['name']}: {run['errors']} errors, colliding calls {run['colliding_outcomes']}, "
                  f"PUTs per volume {run['journal']['volumes_by_put_count']}, audit {run['audit']}")  # fmt: skip
            for error in run["first_errors"]:
                print(f"    {error}")
        if "postgres_skipped" in results["replicas"]:
            print(f"  replicas on PostgreSQL SKIPPED: {results['replicas']['postgres_skipped']}")


def unpack_baseline(revision: str, folder: Path) -> None:
    global BASELINE
    archive = subprocess.run(["git", "archive", revision, "server"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    BASELINE = folder / "server"


def print_latency(latency: dict[str, Any]) -> None:
    now, before = latency["calls"]["now"], latency["calls"].get("before")
    print(f"\nlatency: every SCP request delayed {now['latency_ms']:g} ms; medians of {now['repeats']} calls")
    print(f"{'call':48} {'requests':>8} {'steps':>5} {'round trips':>11} {'floor':>5} {'x floor':>7}"
          + ("   before: requests, steps, round trips, x floor" if before else "") + "   why the floor")  # fmt: skip
    old = {row["call"]: row for row in before["rows"]} if before else {}
    for row in now["rows"]:
        was = old.get(row["call"])
        then = (f"   {was['requests']:>3} {was['sequential_steps']:>3} {was['round_trips']:>6.2f} {was['ratio']:>6.2f}"
                if was else "")  # fmt: skip
        print(f"{row['call']:48} {row['requests']:>8} {row['sequential_steps']:>5} {row['round_trips']:>11.2f} "
              f"{row['floor']:>5} {row['ratio']:>7.2f}{then}   {row['why']}")  # fmt: skip
    for side, waited in latency["wait"].items():
        for run in waited["runs"]:
            print(f"resize wait ({side}), {run['extension_s']:g} s extension at {run['latency_ms']:g} ms: "
                  f"{run['reads']} reads, new size seen {run['seen_after_s']} s after it showed")  # fmt: skip


def print_scale(scale: dict[str, Any]) -> None:
    print("\nscale: the SCP client listing volumes out of 10,000 (emulator on loopback, no latency)")
    for side, found in scale.items():
        for row in found["rows"]:
            streamed = f", streamed {row['peak_kb_streamed']} KB" if "peak_kb_streamed" in row else ""
            print(f"  {side}: {row['wanted']:>6} wanted: {row['requests']:>3} requests, {row['wall_ms']:>7} ms, "
                  f"peak held {row['peak_kb_held']} KB{streamed}")  # fmt: skip


def main() -> int:
    # Before any MCPServer exists (the per-call child's too): its constructor would otherwise set the root logger
    # to INFO, and every request of the measured calls would be logged.
    logging.basicConfig(level=logging.WARNING)
    if sys.argv[1:2] == ["--per-call-child"]:  # the per-call measurement of --baseline's code, in a child
        print(json.dumps(bench_per_call(sys.argv[2], int(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: checks that it works, not timings")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write the results")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--baseline", metavar="REV", help="also measure REV's server/ (git archive), side by side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as folder:
        if args.baseline:
            unpack_baseline(args.baseline, Path(folder))
        results = run_sections(set(args.only or SECTIONS), args.quick)
    if args.baseline:
        results["baseline"] = args.baseline
    rows = verdicts(results)
    results["verdicts"] = [{"measure": m, "value": v, "target": t, "met": ok} for m, v, t, ok in rows]
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results, rows)
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Instruction counts (valgrind's callgrind) for start-up and per call: the same number for the same code, however
busy the machine. `tools/bench.py` times the same things in milliseconds; on a shared machine those move by a
tenth from run to run, which hides the few percent its targets are about.

    python tools/bench_instructions.py [--baseline REV] [--calls 150]

- start-up: instructions of a `serve` process over stdio from spawn to the answer of tools/list (imports,
  initialize, tools/list; at the end of its input it leaves through `os._exit`, so that the interpreter's
  teardown, which no client waits for, is not counted), against the SDK's minimal server and that server given
  our collector pause (like for like: what our own code costs);
- per call: instructions per `extend_volume` through an in-process MCP client against the emulator (confirm
  flag, trail off; client, server and SDK, the emulator being another process), taken as the difference between
  a run of N calls and a run of none; and the same for the SDK's floor (the same GET and PUT in a bare tool).
  Each child freezes what its set-up made (`gc.freeze()`, as a served process has after `gc_pause`), so that
  a full collection's cost depends on the calls, not on how much the harness imported; the quota is cached for
  the whole run (its 60 s would otherwise expire, or not, with the machine's speed under callgrind).

Needs valgrind (Debian's package); Python's hash seed is fixed so that dictionaries are laid out alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

import bench

STDIO_INPUT = "\n".join(
    [
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},'
        '"clientInfo":{"name":"bench","version":"0"}}}',
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}',
        "",
    ]
)


def instructions(argv: list[str], env: dict[str, str], stdin: str = "") -> int:
    """Instructions callgrind counted for the whole process."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", **env},
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed under callgrind: {done.stderr[-1500:]}")
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"{argv}: callgrind counted nothing: {done.stderr[-500:]}")


QUICK_EXIT = """
import atexit, os, runpy, sys

atexit.register(lambda: (sys.stdout.flush(), os._exit(0)))  # registered first, so it runs after the others
target = sys.argv[1]
sys.argv = sys.argv[1:]
if target == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    runpy.run_path(target, run_name="__main__")
"""
"""Runs a script (or `-m module`) and leaves without the interpreter's teardown once it is done."""


def start_up(folder: Path, baseline: Path | None) -> dict[str, int]:
    minimal, paused, quick_exit = folder / "minimal.py", folder / "minimal_paused.py", folder / "quick_exit.py"
    minimal.write_text(bench.MINIMAL_SERVER)
    paused.write_text(bench.MINIMAL_SERVER_PAUSED)
    quick_exit.write_text(QUICK_EXIT)
    env = {**bench.SCP_ENV, "SCP_ENDPOINT": "http://127.0.0.1:9", "SCP_AUDIT_LOG": "off"}
    python = [sys.executable, str(quick_exit)]
    ours = [*python, "-m", "scp_volume_mcp", "serve"]
    counts = {
        "minimal MCPServer": instructions([*python, str(minimal)], env, STDIO_INPUT),
        "minimal, collector paused": instructions([*python, str(paused)], env, STDIO_INPUT),
        "scp-volume-mcp": instructions(ours, env, STDIO_INPUT),
    }
    if baseline is not None:
        counts["baseline"] = instructions(ours, {**env, "PYTHONPATH": str(baseline)}, STDIO_INPUT)
    return counts


def per_call(calls: int, baseline: Path | None) -> dict[str, int]:
    runs: list[tuple[str, str, dict[str, str]]] = [("extend_volume", "extend", {}), ("the SDK's floor", "floor", {})]
    if baseline is not None:
        runs.append(("extend_volume, baseline", "extend", {"PYTHONPATH": str(baseline)}))
    counts = {}
    for label, mode, env in runs:
        with bench.emulator_process(extra=("--max-volume-size", "16384")) as endpoint:
            child = [sys.executable, str(Path(__file__)), "--calls-child", endpoint, mode]
            none = instructions([*child, "0"], env)
            httpx.post(f"{endpoint}/_emulator/reset", json={}).raise_for_status()  # the seeded sizes again
            many = instructions([*child, str(calls)], env)
        counts[label] = (many - none) // calls
    return counts


async def _calls(endpoint: str, mode: str, calls: int) -> None:
    """The child: `calls` calls (after ten to warm up) of extend_volume or of the floor tool."""
    import httpx
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from pydantic import SecretStr

    from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY as key
    from scp_volume_mcp.emulator import EMULATOR_SECRET_KEY as secret
    from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpAuth, ScpClient, load_config
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    server: Any
    if mode == "extend":
        config = load_config(access_key=key, secret_key=secret, endpoint=endpoint, env={})
        server = build_server(ServerSettings(confirmation="flag"), lambda: ScpClient(config))
        tool, volume_id = "extend_volume", EXAMPLE_VOLUME_ID
    else:
        http = httpx.AsyncClient(base_url=endpoint, auth=ScpAuth(key, SecretStr(secret)),
                                 headers={"Scp-Api-Version": "virtualserver 1.3"})  # fmt: skip
        floor = server = MCPServer("floor")

        @floor.tool()
        async def same_requests(volume_id: str, new_size_gb: int, confirm: bool) -> str:
            (await http.get(f"/v1/volumes/{volume_id}")).raise_for_status()
            (await http.put(f"/v1/volumes/{volume_id}/size", json={"size": new_size_gb})).raise_for_status()
            return "ok"

        tool, volume_id = "same_requests", EXAMPLE_VOLUME_ID  # its own emulator: the same volume, the same bodies
    from scp_volume_mcp import scp_access

    scp_access.QUOTA_TTL_S = float("inf")  # read once in the warm-up, whatever callgrind's pace
    size = 200
    async with Client(server) as client:
        for call in range(10 + calls):
            result = await client.call_tool(tool, {"volume_id": volume_id, "new_size_gb": size, "confirm": True})
            assert not result.is_error, result.content
            size += 8
            if call == 9:
                gc.freeze()  # what set-up and warm-up made, as `gc_pause` freezes a served process's start-up


def main() -> int:
    if sys.argv[1:2] == ["--calls-child"]:
        import logging

        import anyio

        logging.basicConfig(level=logging.WARNING)  # before any MCPServer, which would log every request at INFO

        anyio.run(_calls, sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", help="also count REV's server/ (git archive)")
    parser.add_argument("--calls", type=int, default=150, help="calls per per-call run (default 150)")
    parser.add_argument("--only", choices=("startup", "per_call"), help="run only this part")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        baseline = None
        if args.baseline:
            bench.unpack_baseline(args.baseline, Path(folder))
            baseline = bench.BASELINE
        startup = start_up(Path(folder), baseline) if args.only in (None, "startup") else {}
        calls = per_call(args.calls, baseline) if args.only in (None, "per_call") else {}
    if startup:
        floor = startup["minimal MCPServer"]
        print("start-up (spawn to the tools/list answer, stdio), instructions:")
        for name, count in startup.items():
            print(f"  {name:28s} {count / 1e9:7.3f} G  x{count / floor:.3f} of the minimal server")
        like_for_like = startup["scp-volume-mcp"] / startup["minimal, collector paused"]
        print(f"  like for like (vs the minimal server with the same pause): x{like_for_like:.3f}")
    if calls:
        print(f"per call ({args.calls} calls), instructions per call:")
    for name, count in calls.items():
        beyond = count - calls["the SDK's floor"]
        print(f"  {name:28s} {count / 1e6:7.2f} M  beyond the floor {beyond / 1e6:+.2f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `latency` and `scale` sections of tools/bench.py, and the worker they run in a child process.

The worker imports `scp_volume_mcp` from wherever PYTHONPATH points, so the same measurements run against this
tree and against the code before a change (`bench.py --baseline REV` unpacks REV's `server/` with `git archive`),
side by side in one run, both against the same emulator process (this tree's, for its `--latency`).

    python tools/bench_latency.py calls ENDPOINT LATENCY_MS REPEATS   -> JSON on stdout
    python tools/bench_latency.py wait                                -> JSON on stdout
    python tools/bench_latency.py scale ENDPOINT                      -> JSON on stdout

Only what both trees have is used: `build_server`, `ServerSettings`, `ScpClient.list_volumes`,
`waiting.wait_until_settled`.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
import tracemalloc
from typing import Any

import anyio
import httpx

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY

EXAMPLE = "3f500f00-ed80-4566-a057-e31760226f9a"
AVAILABLE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"  # data-available, 64 GB
IN_USE = "9c3e5d7f-2b4a-4c6e-8f10-3a5b7c9d1e02"  # db-in-use, 200 GB, attached
ARCHIVE = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c06"  # archive, 1000 GB
ASKED = "5d9e1f3a-7b2c-4d8e-9f0a-1b2c3d4e5f60"  # added for the rows that ask a person, 500 GB

# name, tool, arguments, floor in round trips, why the floor; "quota": "cold" empties the quota cache first;
# "grows": the target grows by 8 GB each round (the volume grew the round before)
CALLS: list[dict[str, Any]] = [
    {"name": "list_volumes (limit 20)", "tool": "list_volumes", "arguments": {"limit": 20}, "floor": 1,
     "why": "one page of 21 (20 and one to know whether more exist): the platform filters and pages"},
    {"name": "get_volume", "tool": "get_volume", "arguments": {"volume_id": EXAMPLE}, "floor": 1,
     "why": "one read"},
    {"name": "plan_volume_extension", "tool": "plan_volume_extension",
     "arguments": {"volume_id": AVAILABLE, "new_size_gb": 72}, "grows": True, "floor": 1, "quota": "cold",
     "why": "volume, quota set and latest snapshot are independent reads"},
    {"name": "extend_volume, quota not cached", "tool": "extend_volume",
     "arguments": {"volume_id": AVAILABLE, "new_size_gb": 72, "confirm": True}, "grows": True, "floor": 2,
     "why": "the check (volume and quota, independent), then the PUT, which needs it", "quota": "cold"},
    {"name": "extend_volume, quota cached", "tool": "extend_volume",
     "arguments": {"volume_id": ARCHIVE, "new_size_gb": 1008, "confirm": True}, "grows": True, "floor": 2,
     "why": "the volume read, then the PUT"},
    {"name": "extend_volume, a person asked first", "tool": "extend_volume", "asks": True,
     "arguments": {"volume_id": ASKED, "new_size_gb": 504, "confirm": True}, "grows": True, "floor": 3,
     "why": "the question's read (volume and way back, independent); after the answer, the read under the lock "
            "(the safety read); the PUT"},
    {"name": "extend_volume, snapshot first, quota not cached", "tool": "extend_volume",
     "arguments": {"volume_id": IN_USE, "new_size_gb": 208, "confirm": True, "snapshot_first": True}, "grows": True,
     "floor": 3, "quota": "cold",
     "why": "under the lock, the check (volume, quota set); the snapshot POST, after the intent; the PUT (the "
            "emulator's snapshot is available in its create answer: a platform's adds reads while it is made)"},
    {"name": "extend_volume, snapshot first, quota cached", "tool": "extend_volume",
     "arguments": {"volume_id": EXAMPLE, "new_size_gb": 104, "confirm": True, "snapshot_first": True}, "grows": True,
     "floor": 3, "why": "as above: the snapshot count is not cached"},
]  # fmt: skip


def _steps(times: list[float], latency_s: float) -> int:
    """Requests the emulator answered one after another: a request that arrived within half a round trip of the
    step's first one went beside it."""
    steps, start = 0, None
    for moment in sorted(times):
        if start is None or moment - start > latency_s / 2:
            steps, start = steps + 1, moment
    return steps


async def _calls(endpoint: str, latency_ms: float, repeats: int) -> dict[str, Any]:
    """One server, as a process keeps it, in the default configuration (the audit trail a file, confirmation by
    flag; a second one asks a person): a pass over every call first (the SDK's first-call work, the open
    connection), then `repeats` measured passes."""
    import tempfile
    from pathlib import Path

    from mcp import Client
    from mcp.types import ElicitResult

    from scp_volume_mcp.scp import ScpClient, load_config
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    config = load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=endpoint, env={})
    control = httpx.AsyncClient(base_url=endpoint, headers={"content-type": "application/json"})
    samples: dict[str, list[tuple[float, int, int]]] = {call["name"]: [] for call in CALLS}
    folder = tempfile.TemporaryDirectory(prefix="bench-latency-")
    trail = Path(folder.name) / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", audit_log=trail), lambda: ScpClient(config))
    asking = build_server(ServerSettings(confirmation="auto", audit_log=trail), lambda: ScpClient(config))
    scp = server.app_state.scp

    async def yes(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    (await control.post("/_emulator/reset", content=b"{}")).raise_for_status()
    (await control.post("/_emulator/settings", content=b'{"snapshots_limit": -1}')).raise_for_status()
    asked_volume = {"id": ASKED, "name": "asked", "size": 500, "state": "available", "volume_type": "SSD",
                    "encrypted": False, "bootable": False, "multiattach": False, "servers": []}  # fmt: skip
    (await control.post("/_emulator/volumes", json=asked_volume)).raise_for_status()
    async with Client(server) as client, Client(asking, elicitation_callback=yes) as asked:
        for round_ in range(repeats + 1):
            for call in CALLS:
                arguments = dict(call["arguments"])
                if call.get("grows"):
                    arguments["new_size_gb"] += 8 * round_
                connection = asking.app_state.scp if call.get("asks") else scp
                if call.get("quota") == "cold":
                    connection._quota = None  # as after the cache's minute: the next check reads the quota
                else:
                    await connection.per_volume_quota_gb()  # cached now (a read, if it was not), before the count
                count_from = len((await control.get("/_emulator/journal")).json()["requests"])
                started = time.perf_counter()
                result = await (asked if call.get("asks") else client).call_tool(call["tool"], arguments)
                wall = time.perf_counter() - started
                if result.is_error:
                    raise RuntimeError(f"{call['name']}: {result.content}")
                journal = (await control.get("/_emulator/journal")).json()["requests"][count_from:]
                if round_ > 0:
                    steps = _steps([e["time"] for e in journal], latency_ms / 1000)
                    samples[call["name"]].append((wall, len(journal), steps))
    (await control.post("/_emulator/settings", content=b'{"snapshots_limit": 10}')).raise_for_status()
    await control.aclose()
    folder.cleanup()
    rows = []
    for call in CALLS:
        walls = [s[0] for s in samples[call["name"]]]
        requests, steps = samples[call["name"]][-1][1:]
        round_trips = statistics.median(walls) / (latency_ms / 1000)
        rows.append({
            "call": call["name"], "requests": requests, "sequential_steps": steps,
            "wall_ms": round(statistics.median(walls) * 1000, 1), "round_trips": round(round_trips, 2),
            "floor": call["floor"], "ratio": round(round_trips / call["floor"], 3), "why": call["why"],
        })  # fmt: skip
    return {"latency_ms": latency_ms, "repeats": repeats, "rows": rows}


async def _wait(latency_s: float, extension_s: float = 300.0) -> dict[str, Any]:
    """wait_until_settled over an extension that shows after `extension_s`, on a simulated clock (no sleeping):
    each read costs `latency_s`. How many reads, and how late the new size was seen."""
    from scp_volume_mcp.extension import waiting
    from scp_volume_mcp.scp import Volume

    now = [0.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return now[0]

    class Sleeper:
        @staticmethod
        async def sleep(seconds: float) -> None:
            now[0] += seconds

    class Client:
        reads = 0

        async def show_volume(self, volume_id: str) -> Volume:
            Client.reads += 1
            now[0] += latency_s
            grown = now[0] >= extension_s
            return Volume.model_validate(
                {"id": volume_id, "size": 72 if grown else 64, "state": "available" if grown else "extending"}
            )

    module: Any = waiting  # its clock and its sleep, replaced for the simulation
    real_time, real_anyio = module.time, module.anyio
    module.time, module.anyio = Clock, Sleeper
    try:
        start = Volume.model_validate({"id": AVAILABLE, "size": 64, "state": "extending"})
        client: Any = Client()
        volume, _ = await waiting.wait_until_settled(
            client, AVAILABLE, 72, start, timeout_s=extension_s + 60, poll_s=2.0, progress=None
        )
    finally:
        module.time, module.anyio = real_time, real_anyio
    return {"latency_ms": latency_s * 1000, "extension_s": extension_s, "reads": Client.reads,
            "seen_after_s": round(now[0] - extension_s, 3), "settled": volume.size == 72}  # fmt: skip


async def _scale(endpoint: str) -> dict[str, Any]:
    from scp_volume_mcp.scp import ScpClient, load_config

    config = load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=endpoint, env={})
    control = httpx.AsyncClient(base_url=endpoint)
    rows = []
    async with ScpClient(config) as client:
        await client.list_volumes(max_items=1)  # the connection open
        for wanted in (20, 1000, 10000):
            before = len((await control.get("/_emulator/journal")).json()["requests"])
            started = time.perf_counter()
            count = len(await client.list_volumes(max_items=wanted))
            wall = time.perf_counter() - started
            requests = len((await control.get("/_emulator/journal")).json()["requests"]) - before
            tracemalloc.start()
            await client.list_volumes(max_items=wanted)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            row = {"wanted": wanted, "got": count, "requests": requests, "wall_ms": round(wall * 1000, 1),
                   "peak_kb_held": round(peak / 1024)}  # fmt: skip
            if hasattr(client, "iter_volumes"):  # streamed: one page in memory, whatever the total
                tracemalloc.start()
                streamed = 0
                async for _ in client.iter_volumes(max_items=wanted):
                    streamed += 1
                row["peak_kb_streamed"] = round(tracemalloc.get_traced_memory()[1] / 1024)
                tracemalloc.stop()
            rows.append(row)
    await control.aclose()
    return {"rows": rows}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)  # before any MCPServer exists (it would set INFO)
    what = argv[0]
    if what == "calls":
        result = anyio.run(_calls, argv[1], float(argv[2]), int(argv[3]))
    elif what == "wait":
        result = {"runs": [anyio.run(_wait, latency) for latency in (0.0, 0.1)]}
    elif what == "scale":
        result = anyio.run(_scale, argv[1])
    else:
        raise SystemExit(f"unknown part {what!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Randomized fault histories: prove one resize per volume under chaos, and that nothing is re-sent on a guess.

Replicas (`serve --transport http`) on one PostgreSQL database, and stdio servers sharing one audit file (each
call a fresh process, as a host restarting them), against the embedded emulator with attached volumes that stay
`in-use` at their old size while they grow, and that accepts a second resize while one is under way (as a
platform might: so a resize a server should never have sent shows up in the emulator's history). Workers plan
and extend random volumes through random servers, with and without `snapshot_first`; a nemesis SIGKILLs and
restarts servers, delays PUTs past the client's timeout, drops PUT answers before and after they take effect,
answers 500, terminates the database's connections and slows snapshots; an operator closes, as a person who
checked the console would, open attempts whose volume shows nothing under way.

Checked afterwards, from the emulator's history of accepted resizes (and when each took effect) and the trails:
- no resize accepted while an earlier accepted resize of that volume had not taken effect;
- accepted sizes only grow;
- every accepted PUT has its intent in a trail, written before the PUT was accepted;
- no PUT from a server whose policy requires a human, with clients that cannot be asked;
- every attempt ends with an outcome, or reads as "outcome unknown" only because its process was killed.

    python tools/chaos.py --minutes 30 [--seed N] [--replicas 3] [--json chaos.json]

The seed is printed; the same seed replays the same schedule of choices (timings still vary).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from startup_wait import wait_listening

ROOT = Path(__file__).resolve().parent.parent
STEP = 8
FILE_VOLUMES = 4
TEAM_VOLUMES = 10
HUMAN = "human"
"""The replica whose policy requires a human: its clients cannot be asked, so it must never send a PUT."""
NEMESIS = (
    "kill", "put_delay", "drop_before", "drop_after", "error_500", "gateway_5xx_applied", "db_terminate",
    "slow_snapshot",
)  # fmt: skip


@dataclass
class Plan:
    seed: int
    duration_s: float
    replicas: int = 3
    workers: int = 6


@dataclass
class Servers:
    """The processes of one history: HTTP replicas by slot (each kill starts a new incarnation) and the stdio
    processes running now."""

    env: dict[str, str]
    trail: Path
    database_url: str
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    incarnations: Counter[int] = field(default_factory=Counter)
    stdio: dict[str, int] = field(default_factory=dict)
    """Running stdio processes: replica name -> pid."""
    killed: set[str] = field(default_factory=set)
    stdio_count: int = 0

    def start(self, slot: int) -> None:
        self.incarnations[slot] += 1
        name = f"{HUMAN if slot == 0 else 'r' + str(slot)}.{self.incarnations[slot]}"
        env = {**self.env, "SCP_DATABASE_URL": self.database_url, "SCP_REPLICA_NAME": name,
               "SCP_CONFIRMATION": "human" if slot == 0 else "flag"}  # fmt: skip
        command = [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port",
                   str(self.ports[slot]), "--no-auth"]  # fmt: skip
        log = self.trail.with_name(f"{name}.log")
        with log.open("w") as stderr:
            self.processes[slot] = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        self.names[slot] = name
        wait_listening(self.ports[slot], self.processes[slot], lambda: log.read_text(errors="replace")[-2000:],
                       what=f"the replica {name}", base_s=30)  # fmt: skip

    def kill(self, slot: int) -> None:
        self.processes[slot].send_signal(signal.SIGKILL)
        self.processes[slot].wait()
        self.killed.add(self.names[slot])

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()  # graceful: calls in flight record their outcomes
        for process in self.processes.values():
            process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seeded_volumes() -> list[dict[str, Any]]:
    """Attached volumes at 104 GB: the first FILE_VOLUMES for the stdio servers, the rest for the team."""
    volumes = []
    for n in range(FILE_VOLUMES + TEAM_VOLUMES):
        volume_id = str(uuid.UUID(int=0xC4A05 * 2**64 + n, version=4))
        server = {"id": str(uuid.UUID(int=n + 1, version=4)), "device": "/dev/vdb"}
        volumes.append({"id": volume_id, "name": f"chaos-{n}", "size": 104, "state": "in-use", "volume_type": "SSD",
                        "encrypted": False, "bootable": False, "multiattach": False, "servers": [server]})  # fmt: skip
    return volumes


class History:
    """One randomized history: its servers, workers, nemesis and operator, and what they did."""

    def __init__(self, plan: Plan, emulator: Any, servers: Servers) -> None:
        self.plan, self.emulator, self.servers = plan, emulator, servers
        self.rng = random.Random(plan.seed)
        self.volumes = [v["id"] for v in seeded_volumes()]
        self.faults: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.closed_by_operator = 0
        self.restarting: set[int] = set()
        self._restarts: TaskGroup | None = None

    async def run(self) -> None:
        deadline = time.monotonic() + self.plan.duration_s
        async with anyio.create_task_group() as tg:
            self._restarts = tg
            for n in range(self.plan.workers):
                tg.start_soon(self.worker, random.Random(self.rng.random()), deadline, n)
            tg.start_soon(self.nemesis, random.Random(self.rng.random()), deadline)
            tg.start_soon(self.operator, deadline)

    # --- workers --------------------------------------------------------------------------------------

    async def worker(self, rng: random.Random, deadline: float, number: int) -> None:
        while time.monotonic() < deadline:
            team = rng.random() < 0.75
            volume = rng.choice(self.volumes[FILE_VOLUMES:] if team else self.volumes[:FILE_VOLUMES])
            current = (self.emulator.state.get(volume) or {}).get("size", 104)
            arguments: dict[str, Any] = {"volume_id": volume, "new_size_gb": current + STEP * rng.randint(1, 3)}
            tool = "plan_volume_extension" if rng.random() < 0.2 else "extend_volume"
            if tool == "extend_volume":
                arguments |= {"confirm": True, "snapshot_first": rng.random() < 0.25}
            outcome = await (self.team_call(rng, tool, arguments) if team else self.stdio_call(tool, arguments))
            self.calls[f"{tool} {outcome}"] += 1

    async def team_call(self, rng: random.Random, tool: str, arguments: dict[str, Any]) -> str:
        from mcp import Client

        slot = rng.randrange(len(self.servers.ports))
        with anyio.move_on_after(25):
            try:
                async with Client(f"http://127.0.0.1:{self.servers.ports[slot]}/mcp") as client:
                    result = await client.call_tool(tool, arguments)
            except Exception:
                return "lost (server gone)"
            return _outcome(result)
        return "lost (timed out)"

    async def stdio_call(self, tool: str, arguments: dict[str, Any]) -> str:
        from mcp import Client, StdioServerParameters

        self.servers.stdio_count += 1
        name = f"stdio.{self.servers.stdio_count}"
        pid_file = self.servers.trail.with_name(f"{name}.pid")
        env = {**self.servers.env, "SCP_AUDIT_LOG": str(self.servers.trail), "SCP_REPLICA_NAME": name,
               "SCP_CONFIRMATION": "flag", "PATH": os.environ.get("PATH", "")}  # fmt: skip
        command = f'echo $$ > "{pid_file}"; exec "{sys.executable}" -m scp_volume_mcp serve'
        server = StdioServerParameters(command="sh", args=["-c", command], env=env)
        with anyio.move_on_after(25):
            try:
                async with Client(server) as client:
                    with contextlib.suppress(OSError, ValueError):
                        self.servers.stdio[name] = int(pid_file.read_text())
                    result = await client.call_tool(tool, arguments)
            except Exception:
                return "lost (server gone)"
            finally:
                self.servers.stdio.pop(name, None)
            return _outcome(result)
        return "lost (timed out)"

    # --- nemesis and operator -------------------------------------------------------------------------

    async def nemesis(self, rng: random.Random, deadline: float) -> None:
        from scp_volume_mcp.emulator import Fault

        while time.monotonic() < deadline:
            await anyio.sleep(rng.uniform(0.4, 1.6))
            action = rng.choice(NEMESIS)
            self.faults[action] += 1
            if action == "kill":
                await self.kill_one(rng)
            elif action == "put_delay":  # past the servers' SCP_TIMEOUT of 2 s, applied behind the delay
                self.emulator.state.add_fault(Fault("extend", latency_s=rng.choice([1.0, 3.0])))
            elif action in ("drop_before", "drop_after"):
                self.emulator.state.add_fault(Fault("extend", drop=True, apply=action == "drop_after"))
            elif action == "error_500":
                self.emulator.state.add_fault(Fault("extend", status=500))
            elif action == "gateway_5xx_applied":  # the platform applied the PUT, a gateway answered 502/504
                status = rng.choice([500, 502, 503, 504])
                self.emulator.state.add_fault(Fault("extend", status=status, apply=True))
            elif action == "db_terminate":
                await anyio.to_thread.run_sync(_terminate_connections, self.servers.database_url)
            else:
                self.emulator.state.settings.snapshot_seconds = 3.0
                await anyio.sleep(rng.uniform(2, 5))
                self.emulator.state.settings.snapshot_seconds = 0.3

    async def kill_one(self, rng: random.Random) -> None:
        running = dict(self.servers.stdio)
        if running and rng.random() < 0.3:
            name, pid = rng.choice(sorted(running.items()))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.servers.killed.add(name)
            return
        slot = rng.randrange(len(self.servers.ports))
        if slot in self.restarting:
            return
        await anyio.to_thread.run_sync(self.servers.kill, slot)
        self.restarting.add(slot)
        assert self._restarts is not None
        self._restarts.start_soon(self.restart, slot, rng.uniform(0.2, 1.0))  # the nemesis goes on meanwhile

    async def restart(self, slot: int, after_s: float) -> None:
        await anyio.sleep(after_s)
        await anyio.to_thread.run_sync(self.servers.start, slot)
        self.restarting.discard(slot)

    async def operator(self, deadline: float) -> None:
        """Closes an open attempt once it is 5 s old and its volume shows nothing under way: what a person who
        checked the volume in the console would decide (the emulator's state is that console)."""
        while time.monotonic() < deadline:
            await anyio.sleep(2.0)
            for trail_env, attempt in await anyio.to_thread.run_sync(self.open_attempts):
                if attempt.age_s() > 5 and not self.emulator.state.resizing(attempt.volume_id):
                    done = await anyio.run_process(
                        [sys.executable, "-m", "scp_volume_mcp", "audit", "--close", attempt.attempt_id, "--reason",
                         "chaos operator: the console shows nothing under way"],
                        env={**self.servers.env, **trail_env}, check=False,
                    )  # fmt: skip
                    self.closed_by_operator += done.returncode == 0

    def open_attempts(self) -> list[tuple[dict[str, str], Any]]:
        from scp_volume_mcp.audit.open_attempts import OpenAttemptIndex

        found = []
        for trail_env, records in self.trails():
            index = OpenAttemptIndex()
            for record in records:
                index.add(record)
            found += [(trail_env, a) for v in self.volumes for a in index.of_volume(v)]
        return found

    def trails(self) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
        from scp_volume_mcp.audit.command import read_file
        from scp_volume_mcp.team.reader import read_rows

        return [
            ({"SCP_DATABASE_URL": self.servers.database_url}, read_rows(self.servers.database_url)),
            ({"SCP_AUDIT_LOG": str(self.servers.trail)}, read_file(self.servers.trail)),
        ]


def _outcome(result: Any) -> str:
    if result.structured_content and "outcome" in result.structured_content:
        return str(result.structured_content["outcome"])
    if result.structured_content and "would_be_accepted" in result.structured_content:
        return "planned"
    return "refused or failed" if result.is_error else "other"


def _terminate_connections(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'scp-volume-mcp' AND pid <> pg_backend_pid()"
        )


# --- the checks -------------------------------------------------------------------------------------------


def violations(history: History) -> list[str]:
    """Every broken promise the history shows (empty: none)."""
    accepted = history.emulator.state.history.entries()
    records = [r for _, trail in history.trails() for r in trail]
    return [*_one_resize_at_a_time(accepted), *_intents_first(accepted, records),
            *_consent(records), *_every_attempt_ends(records, history.servers.killed)]  # fmt: skip


def _one_resize_at_a_time(accepted: list[Any]) -> list[str]:
    """No resize accepted while an earlier one of that volume had not taken effect; accepted sizes only grow."""
    found = []
    by_volume: dict[str, list[Any]] = {}
    for resize in accepted:
        by_volume.setdefault(resize.volume_id, []).append(resize)
    for volume, resizes in by_volume.items():
        for earlier, later in itertools.pairwise(resizes):
            if earlier.took_effect_at is None or later.accepted_at < earlier.took_effect_at:
                found.append(f"{volume}: {later.size} GB accepted while {earlier.size} GB had not taken effect")
            if later.size <= earlier.size:
                found.append(f"{volume}: accepted sizes did not grow: {earlier.size} then {later.size} GB")
    return found


def _intents_first(accepted: list[Any], records: list[dict[str, Any]]) -> list[str]:
    """Every accepted PUT has an intent for that volume and size, written before it was accepted."""
    intents: dict[tuple[str, int], list[float]] = {}
    for record in records:
        if record.get("phase") == "intent":
            when = datetime.fromisoformat(str(record["time"])).timestamp()
            intents.setdefault((str(record["volume_id"]), int(record["requested_size_gb"])), []).append(when)
    return [
        f"{resize.volume_id}: {resize.size} GB accepted with no intent written before it"
        for resize in accepted
        if not any(t <= resize.accepted_at + 0.005 for t in intents.get((resize.volume_id, resize.size), []))
    ]


def _consent(records: list[dict[str, Any]]) -> list[str]:
    """The replica that requires a human (whose clients cannot be asked) never got as far as an intent."""
    return [
        f"an intent from the replica that requires a human: {r['attempt_id']}"
        for r in records
        if r.get("phase") == "intent" and str(r.get("replica", "")).startswith(HUMAN)
    ]


def _every_attempt_ends(records: list[dict[str, Any]], killed: set[str]) -> list[str]:
    """An intent without an outcome ("outcome unknown") only where its process was killed."""
    outcomes = {r["attempt_id"] for r in records if r.get("phase") == "outcome"}
    return [
        f"attempt {r['attempt_id']} of {r.get('replica')} has no outcome, and its process was not killed"
        for r in records
        if r.get("phase") == "intent" and r["attempt_id"] not in outcomes and r.get("replica") not in killed
    ]


# --- running one history ------------------------------------------------------------------------------------


def run(plan: Plan, database_url: str) -> dict[str, Any]:
    from scp_volume_mcp.emulator import (
        EMULATOR_ACCESS_KEY,
        EMULATOR_SECRET_KEY,
        EmulatorServer,
        EmulatorSettings,
        EmulatorState,
    )

    print(f"chaos: seed {plan.seed}, {plan.duration_s:g} s, {plan.replicas} replicas", file=sys.stderr, flush=True)
    settings = EmulatorSettings(attached_stays_in_use=True, extend_seconds=1.5, concurrent_resizes="accept",
                                snapshot_seconds=0.3, snapshots_limit=-1)  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="chaos-") as folder,
        EmulatorServer(EmulatorState(seeded_volumes(), settings)) as emulator,
    ):
        env = {**os.environ, "SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
               "SCP_SECRET_KEY": EMULATOR_SECRET_KEY, "SCP_CONFIG_DIR": "/nonexistent", "SCP_TIMEOUT": "2",
               "SCP_LOCK_TIMEOUT": "5", "SCP_SHUTDOWN_GRACE": "5", "SCP_POLL_INTERVAL": "0.5"}  # fmt: skip
        for name in ("SCP_AUDIT_LOG", "SCP_DATABASE_URL", "SCP_REPLICA_NAME", "SCP_CONFIRMATION"):
            env.pop(name, None)
        servers = Servers(env, Path(folder) / "audit.jsonl", _pg_cluster().fresh_database(database_url))
        servers.ports = [_free_port() for _ in range(plan.replicas + 1)]  # slot 0: the human-only replica
        for slot in range(len(servers.ports)):
            servers.start(slot)
        history = History(plan, emulator, servers)
        try:
            anyio.run(history.run)
        finally:
            servers.stop_all()
        assert emulator.state.journal.wait_idle(30)
        found = violations(history)
    report = {"seed": plan.seed, "duration_s": plan.duration_s, "replicas": plan.replicas,
              "faults": dict(history.faults), "calls": dict(history.calls),
              "accepted_resizes": len(emulator.state.history.entries()), "killed": len(servers.killed),
              "closed_by_operator": history.closed_by_operator, "violations": found}  # fmt: skip
    print(json.dumps(report, indent=2), file=sys.stderr, flush=True)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0, help="how long (default 1)")
    parser.add_argument("--seed", type=int, help="replay a seed (default: a random one, printed)")
    parser.add_argument("--replicas", type=int, default=3, help="HTTP replicas that may extend (default 3)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a throwaway cluster)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    plan = Plan(seed, args.minutes * 60, args.replicas)
    with contextlib.ExitStack() as stack:
        url = args.database_url or stack.enter_context(_cluster())
        report = run(plan, url)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["violations"] else 0


def _pg_cluster() -> Any:
    """The tests' PostgreSQL helpers (tests/pg_cluster.py)."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests import pg_cluster
    finally:
        sys.path.remove(str(ROOT))
    return pg_cluster


@contextlib.contextmanager
def _cluster() -> Any:
    with _pg_cluster().postgres_cluster() as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())

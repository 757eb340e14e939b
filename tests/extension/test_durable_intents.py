"""The intent is the pending state, durably: a resize that may still be under way blocks every other resize of
its volume after a SIGKILL and a restart, in every process and replica sharing the trail, until a read settles
it, a person closes it, or it expires; and the trail stays safe to share and bounded."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp.audit import AuditRecord, FileAuditTrail
from scp_volume_mcp.audit.command import read_file
from scp_volume_mcp.audit.open_attempts import PENDING_TTL_S
from scp_volume_mcp.cli import main as cli_main
from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, text
from ..mcp_server.test_transports import scp_env

pytestmark = pytest.mark.anyio
ARGS = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}


def _lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _stdio(emulator: EmulatorServer, log: Path, pid_file: Path) -> StdioServerParameters:
    env = {**scp_env(emulator), "SCP_CONFIRMATION": "flag", "SCP_AUDIT_LOG": str(log), "PATH": os.environ["PATH"]}
    command = f'echo $$ > "{pid_file}"; exec "{sys.executable}" -m scp_volume_mcp serve'
    return StdioServerParameters(command="sh", args=["-c", command], env=env)


async def _kill_mid_put(
    emulator: EmulatorServer, server: StdioServerParameters, pid_file: Path, size: int, log: Path
) -> None:
    """Start an extension to `size` and SIGKILL the server while the emulator is serving its PUT (the request in
    flight once the intent is written)."""
    with anyio.move_on_after(30):
        async with Client(server) as client, anyio.create_task_group() as tg:

            async def call() -> None:
                with contextlib.suppress(Exception):  # the server dies under the call; that is the point
                    await client.call_tool("extend_volume", {**ARGS, "new_size_gb": size})

            tg.start_soon(call)
            while emulator.state.journal.in_flight == 0 or not (log.exists() and log.read_text()):  # noqa: ASYNC110, ASYNC240
                await anyio.sleep(0.01)
            os.kill(int(pid_file.read_text()), signal.SIGKILL)  # noqa: ASYNC240
            tg.cancel_scope.cancel()
    assert emulator.state.journal.wait_idle()


@pytest.mark.slow
async def test_a_stdio_server_killed_mid_put_blocks_the_next_resize_after_its_restart(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # An attached volume stays in-use at its old size while it grows; the PUT is slow, and applied.
    emulator.state.settings.attached_stays_in_use = True
    emulator.state.settings.extend_seconds = 60.0
    emulator.state.add_fault(Fault("extend", latency_s=1.5))
    log, pid_file = tmp_path / "audit.jsonl", tmp_path / "server.pid"
    server = _stdio(emulator, log, pid_file)
    await _kill_mid_put(emulator, server, pid_file, 104, log)
    [intent] = _lines(log)
    assert intent["phase"] == "intent"
    assert emulator.state.resizing(EXAMPLE_VOLUME_ID)  # the platform applied it; a read still shows 100 GB

    async with Client(server) as client:  # the host restarts the server
        same = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        larger = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
        plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 112})
    assert not same.is_error, text(same)  # the size under way again: said, not an error
    assert same.structured_content is not None
    assert same.structured_content["outcome"] == "under_way"
    assert same.structured_content["request_sent"] is False
    assert larger.is_error, text(larger)
    for refused in (same, larger):
        assert intent["attempt_id"] in text(refused)
        assert "its outcome is unknown" in text(refused)
        assert "audit --close" in text(refused)
    assert plan.structured_content is not None
    assert plan.structured_content["would_be_accepted"] is False
    assert intent["attempt_id"] in " ".join(plan.structured_content["reasons"])
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_a_read_that_shows_the_size_closes_the_attempt_and_the_next_resize_goes(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    FileAuditTrail(log).append(_intent("a-open", 104, datetime.now(UTC)))  # a process died after this line
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        blocked = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
        assert blocked.is_error
        assert "a-open" in text(blocked)
        current = emulator.state.get(EXAMPLE_VOLUME_ID)
        assert current is not None
        emulator.state.put({**current, "size": 104})  # the earlier resize shows up
        grown = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert not grown.is_error, text(grown)
    closes = [r for r in _lines(log) if r["phase"] == "close"]
    assert [(c["attempt_id"], c["outcome"]) for c in closes] == [("a-open", "completed")]
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 112}]


async def test_an_attempt_past_its_expiry_no_longer_blocks(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    FileAuditTrail(log).append(_intent("a-old", 104, datetime.now(UTC) - timedelta(seconds=PENDING_TTL_S + 60)))
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        result = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert not result.is_error, text(result)


async def test_an_operator_closes_an_open_attempt_with_the_audit_command(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    FileAuditTrail(log).append(_intent("a-stuck", 104, datetime.now(UTC)))
    monkeypatch.setenv("SCP_AUDIT_LOG", str(log))
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "--close", "a-nothing"]) == 2
    assert "no open attempt" in capsys.readouterr().err
    reason = ["--reason", "checked in the console: not applied"]
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "--close", "a-stuck", *reason]) == 0
    assert await anyio.to_thread.run_sync(cli_main, ["audit", "--close", "a-stuck"]) == 2  # closed already
    [close] = [r for r in _lines(log) if r["phase"] == "close"]
    assert (close["outcome"], close["detail"]) == ("closed by hand", "checked in the console: not applied")
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        result = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert not result.is_error, text(result)


async def test_an_accepted_resize_is_recorded_as_pending_and_blocks_a_second_server(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Two servers on one trail (two stdio processes a host started): the second sees the first's resize."""
    emulator.state.settings.attached_stays_in_use = True
    emulator.state.settings.extend_seconds = 60.0
    log = tmp_path / "audit.jsonl"
    first = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    second = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(first) as one, Client(second) as two:
        accepted = await one.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert accepted.structured_content is not None
        assert accepted.structured_content["outcome"] == "accepted"
        refused = await two.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert refused.is_error
    assert "its outcome was accepted" in text(refused)
    [outcome] = [r for r in _lines(log) if r["phase"] == "outcome" and r["outcome"] == "accepted"]
    assert outcome["resize_pending"] is True
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


def _intent(attempt_id: str, target: int, when: datetime) -> AuditRecord:
    return AuditRecord(
        phase="intent", attempt_id=attempt_id, tool="extend_volume", volume_id=EXAMPLE_VOLUME_ID,
        previous_size_gb=100, requested_size_gb=target, outcome=None, api_version="1.3", replica="host:1",
        time=when.isoformat(timespec="milliseconds"),
    )  # fmt: skip


def _outcome(attempt_id: str, target: int, pending: bool) -> AuditRecord:
    return AuditRecord(
        phase="outcome", attempt_id=attempt_id, tool="extend_volume", volume_id=EXAMPLE_VOLUME_ID,
        previous_size_gb=100, requested_size_gb=target, outcome="accepted" if pending else "completed",
        api_version="1.3", resize_pending=pending,
    )  # fmt: skip


async def test_rotation_bounds_the_file_and_carries_the_open_attempts(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    writer = FileAuditTrail(log, max_bytes=4096)
    reader = FileAuditTrail(log)  # another process's view, reading incrementally
    writer.append(_intent("a-keep", 104, datetime.now(UTC)))
    writer.append(_outcome("a-keep", 104, pending=True))
    assert [a.attempt_id for a in await reader.open_attempts(EXAMPLE_VOLUME_ID)] == ["a-keep"]
    for n in range(60):  # settled attempts: intent, then a completed outcome
        writer.append(_intent(f"a-{n}", 104, datetime.now(UTC)))
        writer.append(_outcome(f"a-{n}", 104, pending=False))
    rotated = writer.rotated_files()
    assert rotated, "the file was rotated"
    assert log.stat().st_size < 4096 + 1024
    assert "a-keep" in log.read_text().split("\n")[0]  # carried to the head of the current file
    assert [a.attempt_id for a in await reader.open_attempts(EXAMPLE_VOLUME_ID)] == ["a-keep"]
    assert [a.attempt_id for a in await FileAuditTrail(log).open_attempts(EXAMPLE_VOLUME_ID)] == ["a-keep"]
    records = read_file(log)  # history across the rotated files, carried lines read once
    assert len(records) == 2 + 120
    assert len({(r["attempt_id"], r["phase"]) for r in records}) == len(records)


def _append_many(path: str, worker: int, count: int) -> None:
    trail = FileAuditTrail(Path(path), max_bytes=16 * 1024)
    for n in range(count):
        trail.append(_intent(f"w{worker}-{n}", 104, datetime.now(UTC)))
        trail.append(_outcome(f"w{worker}-{n}", 104, pending=n % 10 == 0))


@pytest.mark.slow
def test_processes_sharing_one_file_never_interleave_lines_and_lose_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(log), w, 150)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    records = read_file(log)  # every line of every file parses (read_file refuses a broken line)
    assert len({(r["attempt_id"], r["phase"]) for r in records}) == 4 * 150 * 2
    reader = FileAuditTrail(log)
    open_ids = {a.attempt_id for a in anyio.run(reader.open_attempts, EXAMPLE_VOLUME_ID)}
    assert open_ids == {f"w{w}-{n}" for w in range(4) for n in range(0, 150, 10)}


async def test_with_the_trail_off_only_this_process_remembers_and_only_for_the_expiry(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SCP_AUDIT_LOG=off: an accepted resize blocks the next one in this process (its memory), until a read
    shows it or the expiry passes; what a restart forgets is what the start-up warning says."""
    import scp_volume_mcp.extension.ledger as ledger

    emulator.state.settings.attached_stays_in_use = True
    emulator.state.settings.extend_seconds = 60.0
    server = build_server(ServerSettings(confirmation="flag", audit_log=None), client_factory(emulator))
    async with Client(server) as client:
        accepted = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert accepted.structured_content is not None
        assert accepted.structured_content["outcome"] == "accepted"
        blocked = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
        assert blocked.is_error
        assert "already in progress" in text(blocked)
        monkeypatch.setattr(ledger, "PENDING_TTL_S", 0.0)  # the expiry has passed
        emulator.state.settings.concurrent_resizes = "accept"  # and the platform would take another
        after = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert not after.is_error, text(after)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}, {"size": 112}]


def test_the_refusal_names_the_expiry_the_ledger_uses() -> None:
    """The expiry counts from an attempt's latest record (a snapshot taken first may have taken most of an hour
    between its intent and its resize): the refusal's "until" says the same."""
    from scp_volume_mcp import messages
    from scp_volume_mcp.audit.open_attempts import OpenAttempt

    intent, sent = datetime(2026, 12, 2, 10, 0, tzinfo=UTC), datetime(2026, 12, 2, 10, 50, tzinfo=UTC)
    attempt = OpenAttempt("a-1", EXAMPLE_VOLUME_ID, 104, intent.isoformat(), "r1", "accepted", since=sent.isoformat())
    text = messages.reason_pending(attempt)
    assert "started 2026-12-02 10:00:00 UTC" in text
    assert "until 2026-12-02 11:50:00 UTC" in text

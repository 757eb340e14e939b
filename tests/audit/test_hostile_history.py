"""Hostile histories of the audit trail, each found by a hostile review and seen failing first: a torn write, a
trail named through a symlink, a folder made after start, a replica with a slow clock, a long snapshot before the
resize, an odd record, an operator's close, racing processes. None may let a second resize out."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, text

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ARGS = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}


def _slow_platform(emulator: EmulatorServer) -> None:
    emulator.state.settings.attached_stays_in_use = True
    emulator.state.settings.extend_seconds = 60.0


def puts(emulator: EmulatorServer) -> list[Any]:
    return [p.body for p in emulator.state.requests("PUT")]


async def test_a_torn_last_line_does_not_hide_the_next_intent(emulator: EmulatorServer, tmp_path: Path) -> None:
    """A line left without its newline (power loss or ENOSPC mid-write) glues the next record to it."""
    _slow_platform(emulator)
    log = tmp_path / "audit.jsonl"
    log.write_text('{"phase":"outcome","attempt_id":"torn","volume_id":"x","time":"2026-01-01T00:00:00+00:00"')
    first = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(first) as one:
        accepted = await one.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert accepted.structured_content is not None, text(accepted)
    # the process restarts (or a second process shares the file)
    second = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(second) as two:
        again = await two.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert again.is_error, text(again)
    assert puts(emulator) == [{"size": 104}], "a second resize was sent while the first may be under way"


def _settled_lines(volume: str, n: int) -> str:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    out = []
    for i in range(n):
        base = {
            "attempt_id": f"s{i}",
            "tool": "extend_volume",
            "volume_id": volume,
            "requested_size_gb": 8,
            "time": now,
            "detail": "x" * 300,
        }
        out.append(json.dumps({**base, "phase": "intent"}))
        out.append(json.dumps({**base, "phase": "outcome", "outcome": "completed", "resize_pending": False}))
    return "\n".join(out) + "\n"


async def test_a_trail_named_through_a_symlink_stays_one_trail_after_rotation(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """One process names the trail through a symlink, another by its real path: they share its locks, and a
    rotation renames the file, not the link, so they keep writing one trail."""
    _slow_platform(emulator)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "audit.jsonl"
    real.write_text(_settled_lines("00000000-0000-0000-0000-000000000000", 12000))  # ~8.5 MiB of history
    assert real.stat().st_size > 8 * 2**20
    link = tmp_path / "audit.jsonl"
    link.symlink_to(real)
    via_link = build_server(ServerSettings(confirmation="flag", audit_log=link), client_factory(emulator))
    via_real = build_server(ServerSettings(confirmation="flag", audit_log=real), client_factory(emulator))
    async with Client(via_link) as one:
        accepted = await one.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert accepted.structured_content is not None, text(accepted)
    async with Client(via_real) as two:
        again = await two.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert again.is_error, text(again)
    assert puts(emulator) == [{"size": 104}], "a second resize was sent while the first may be under way"


import anyio  # noqa: E402


def _widen(server: Any) -> None:
    """Widen the check-then-intent window (a slow disk, a busy host): the trail read takes 0.5 s more."""
    trail = server.app_state.audit
    original = trail.open_attempts

    async def slow(volume_id: str) -> Any:
        found = await original(volume_id)
        await anyio.sleep(0.5)
        return found

    trail.open_attempts = slow


async def _race(emulator: EmulatorServer, log: Path) -> list[Any]:
    a = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    b = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    log.parent.mkdir(exist_ok=True)  # the operator makes the folder the refusal named
    _widen(a)
    _widen(b)
    async with Client(a) as one, Client(b) as two, anyio.create_task_group() as tg:
        tg.start_soon(one.call_tool, "extend_volume", {**ARGS, "new_size_gb": 104})
        tg.start_soon(two.call_tool, "extend_volume", {**ARGS, "new_size_gb": 112})
    return puts(emulator)


async def test_two_servers_racing_one_volume_share_its_lock_file(emulator: EmulatorServer, tmp_path: Path) -> None:
    _slow_platform(emulator)
    (tmp_path / "trail").mkdir()
    sent = await _race(emulator, tmp_path / "trail" / "audit.jsonl")
    assert len(sent) == 1


async def test_a_trail_folder_made_after_start_still_gets_the_shared_lock(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    _slow_platform(emulator)
    sent = await _race(emulator, tmp_path / "trail" / "audit.jsonl")
    assert len(sent) == 1, "two processes sharing one trail both sent a resize"


class _Behind(datetime):
    """A host whose clock is 2 h behind (a VM resumed without NTP, a bad RTC)."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) - timedelta(hours=2)


@pytest.mark.slow
async def test_a_replica_with_a_slow_clock_is_seen_by_the_others(
    emulator: EmulatorServer, team_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scp_volume_mcp.audit.records as records

    _slow_platform(emulator)
    settings = ServerSettings(confirmation="flag", database_url=team_db)
    skewed = build_server(settings, client_factory(emulator))
    honest = build_server(settings, client_factory(emulator))
    async with Client(skewed) as b, Client(honest) as a:
        with monkeypatch.context() as m:
            m.setattr(records, "datetime", _Behind)
            first = await b.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
            assert first.structured_content is not None, text(first)
        second = await a.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert second.is_error, text(second)
    assert puts(emulator) == [{"size": 104}]


from scp_volume_mcp.audit import AuditRecord, FileAuditTrail  # noqa: E402


def _rec(phase: str, attempt_id: str, target: int, when: datetime, **extra: Any) -> AuditRecord:
    return AuditRecord(
        phase=phase, attempt_id=attempt_id, tool="extend_volume", volume_id=EXAMPLE_VOLUME_ID,  # type: ignore[arg-type]
        previous_size_gb=100, requested_size_gb=target, outcome=extra.pop("outcome", None), api_version="1.3",
        replica="host:1", time=when.isoformat(timespec="milliseconds"), **extra,
    )  # fmt: skip


async def test_the_expiry_counts_from_the_accepted_put_not_the_intent(emulator: EmulatorServer, tmp_path: Path) -> None:
    """snapshot_first with timeout_s=3600: the intent is written before a snapshot that took ~60 min; the PUT is
    accepted just now (resize_pending). The attempt expires at intent + 1 h: seconds after its PUT."""
    _slow_platform(emulator)
    log = tmp_path / "audit.jsonl"
    trail = FileAuditTrail(log)
    now = datetime.now(UTC)
    trail.append(_rec("intent", "a-slow-snap", 104, now - timedelta(seconds=3601)))
    trail.append(_rec("outcome", "a-slow-snap", 104, now, outcome="accepted", resize_pending=True))
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        result = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert result.is_error, text(result)
    assert puts(emulator) == [], "a resize accepted 1 s ago no longer blocks"


async def test_an_odd_record_does_not_hide_the_open_attempts_after_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    """A record of an unexpected shape (another tool's line, a hand edit, a future version) raises TypeError in
    the index after the offset moved on: the lines after it in that read are never indexed."""
    _slow_platform(emulator)
    log = tmp_path / "audit.jsonl"
    odd = {"phase": "intent", "attempt_id": "odd", "volume_id": "other", "requested_size_gb": {"gb": 8}}
    with log.open("w") as stream:
        stream.write(json.dumps(odd) + "\n")
    FileAuditTrail(log).append(_rec("intent", "a-open", 104, datetime.now(UTC)))  # a process died after this
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        first = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
        second = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert first.is_error, text(first)
    assert second.is_error, text(second)
    assert "a-open" in text(second)
    assert puts(emulator) == []


import sys  # noqa: E402

from mcp import StdioServerParameters  # noqa: E402

from ..mcp_server.test_transports import scp_env  # noqa: E402


def _stdio(emulator: EmulatorServer, log: Path) -> StdioServerParameters:
    env = {**scp_env(emulator), "SCP_CONFIRMATION": "flag", "SCP_AUDIT_LOG": str(log), "PATH": os.environ["PATH"]}
    return StdioServerParameters(command=sys.executable, args=["-m", "scp_volume_mcp", "serve"], env=env)


@pytest.mark.slow
async def test_two_stdio_processes_race_one_volume(emulator: EmulatorServer, tmp_path: Path) -> None:
    _slow_platform(emulator)
    log = tmp_path / "audit.jsonl"
    rounds = []
    async with Client(_stdio(emulator, log)) as one, Client(_stdio(emulator, log)) as two:
        for n in range(6):
            emulator.state.journal.clear() if hasattr(emulator.state.journal, "clear") else None
            before = len(puts(emulator))
            current = emulator.state.get(EXAMPLE_VOLUME_ID)
            assert current is not None
            emulator.state.put({**current, "size": 100 + 8 * n})  # the previous round's resizes all show
            emulator.state._resizing.clear()
            async with anyio.create_task_group() as tg:
                tg.start_soon(one.call_tool, "extend_volume", {**ARGS, "new_size_gb": 104 + 8 * n})
                tg.start_soon(two.call_tool, "extend_volume", {**ARGS, "new_size_gb": 108 + 8 * n})
            rounds.append(len(puts(emulator)) - before)
    assert all(r == 1 for r in rounds)


async def test_audit_close_unblocks_the_process_that_made_the_attempt(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scp_volume_mcp.cli import main as cli_main

    _slow_platform(emulator)
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    other = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client, Client(other) as client2:
        first = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert first.structured_content is not None
        attempt_id = json.loads(log.read_text().splitlines()[0])["attempt_id"]
        plan = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 112}
        before = await client.call_tool("plan_volume_extension", plan)
        assert before.structured_content is not None
        assert before.structured_content["would_be_accepted"] is False
        monkeypatch.setenv("SCP_AUDIT_LOG", str(log))
        closed = await anyio.to_thread.run_sync(cli_main, ["audit", "--close", attempt_id, "--reason", "checked"])
        assert closed == 0
        for each in (client, client2):  # the process that made the attempt lets it go too, not only the others
            after = await each.call_tool("plan_volume_extension", plan)
            assert after.structured_content is not None
            assert after.structured_content["would_be_accepted"] is True, after.structured_content["reasons"]


def test_stateless_without_a_version_header(emulator: EmulatorServer, tmp_path: Path) -> None:
    import httpx

    from ..mcp_server.test_transports import http_server

    trail = tmp_path / "audit.jsonl"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "extend_volume", "arguments": {**ARGS, "new_size_gb": 104}}}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with http_server(emulator, "--stateless", SCP_CONFIRMATION="human", SCP_AUDIT_LOG=str(trail)) as url:
        for version in (None, "2025-03-26", "2024-11-05"):
            h = dict(headers)
            if version:
                h["MCP-Protocol-Version"] = version
            answer = httpx.post(url, json=body, headers=h, timeout=20)
            assert answer.status_code < 500, answer.text
    assert puts(emulator) == [], "a client that could not be asked got a resize"

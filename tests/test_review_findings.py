"""Defects a hostile review found, each reproduced against the emulator before it was fixed."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import Implementation

from scp_volume_mcp.audit import AuditRecord, FileAuditTrail
from scp_volume_mcp.emulator import EmulatorServer, Fault, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConflict
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from .mcp_helpers import client_factory, text
from .test_transports import scp_env

pytestmark = pytest.mark.anyio
HOSTILE = "\u202eEVIL\u200b\x1b]0;pwned\x07\x1b[2J\ud800" + "A" * 3000
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)


def _args(size: int, **more: Any) -> dict[str, Any]:
    return {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": size, "confirm": True, **more}


def _clean(value: str) -> bool:
    return not ({"\u202e", "\u200b", "\x1b", "\x07", "\ud800"} & set(value)) and "A" * 700 not in value


def _volume(**changes: Any) -> dict[str, Any]:
    return {**{v["id"]: v for v in default_volumes()}[EXAMPLE_VOLUME_ID], **changes}


# --- an attached volume that stays in-use while it grows ------------------------------------------


@pytest.mark.parametrize(("first", "second"), [(104, 104), (200, 104), (104, 200)])
async def test_a_resize_the_volume_does_not_show_yet_blocks_another(
    emulator: EmulatorServer, first: int, second: int
) -> None:
    emulator.state.settings.extend_seconds = 2.0
    emulator.state.settings.attached_stays_in_use = True
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        one = await client.call_tool("extend_volume", _args(first))
        two = await client.call_tool("extend_volume", _args(second))
    assert one.structured_content is not None
    assert one.structured_content["outcome"] == "accepted"
    assert two.is_error
    assert "already in progress" in text(two)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": first}]


async def test_the_emulator_refuses_a_resize_while_one_is_under_way(emulator: EmulatorServer, scp: ScpClient) -> None:
    emulator.state.settings.extend_seconds = 2.0
    emulator.state.settings.attached_stays_in_use = True
    await scp.extend_volume(EXAMPLE_VOLUME_ID, 200)
    with pytest.raises(ScpConflict):
        await scp.extend_volume(EXAMPLE_VOLUME_ID, 104)


# --- lone surrogates --------------------------------------------------------------------------------


async def test_a_lone_surrogate_in_a_name_neither_kills_stdio_nor_skips_the_audit(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.put(_volume(name="db\ud800x"))
    log = tmp_path / "audit.jsonl"
    env = {**scp_env(emulator), "SCP_CONFIRMATION": "flag", "SCP_AUDIT_LOG": str(log)}
    server = StdioServerParameters(command=sys.executable, args=["-m", "scp_volume_mcp", "serve"], env=env)
    async with Client(server) as client:
        got = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        shrink = await client.call_tool("extend_volume", _args(96))
    assert got.structured_content is not None
    assert got.structured_content["name"] == "dbx"
    assert shrink.is_error
    assert "volumes can only grow" in text(shrink)
    [line] = log.read_text().splitlines()
    assert json.loads(line)["outcome"] == "refused"


async def test_a_client_name_with_a_lone_surrogate_is_audited(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server, client_info=Implementation(name="x\ud800", version="1")) as client:
        result = await client.call_tool("extend_volume", _args(104))
    assert not result.is_error, text(result)
    intent, outcome = (json.loads(line) for line in log.read_text().splitlines())
    assert (intent["client_claimed"], outcome["outcome"]) == ("x", "completed")


# --- an outcome write that is slow when the client cancels ------------------------------------------


class _SlowOutcomes(FileAuditTrail):
    """A trail that takes a second to store outcomes, as a busy database might."""

    async def write(self, record: AuditRecord) -> None:
        if record.phase == "outcome":
            await anyio.sleep(1.0)
        await super().write(record)


async def test_a_cancellation_during_the_outcome_write_does_not_lose_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(FLAG, client_factory(emulator))
    server.app_state = dataclasses.replace(server.app_state, audit=_SlowOutcomes(log))
    async with Client(server) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "extend_volume", _args(104))
        while not emulator.state.requests("PUT"):  # noqa: ASYNC110 - the emulator runs on its own thread
            await anyio.sleep(0.01)
        await anyio.sleep(0.2)  # the outcome write has started
        tg.cancel_scope.cancel()
    await anyio.sleep(1.5)  # the shielded write finishes on its own
    phases = [(r["phase"], r["outcome"]) for r in map(json.loads, log.read_text().splitlines())]
    assert phases == [("intent", None), ("outcome", "completed")]


# --- hostile platform text in errors, snapshots, the audit command and doctor ----------------------


async def test_hostile_error_details_are_cleaned_in_tool_errors_and_notes(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 1.0
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        emulator.state.add_fault(Fault("show", status=403, detail=HOSTILE, skip=1))  # the read while waiting
        waited = await client.call_tool("extend_volume", _args(104, wait=True))
        emulator.state.add_fault(Fault("show", status=403, detail=HOSTILE))
        refused = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert waited.structured_content is not None
    assert "reading the volume while waiting failed" in waited.structured_content["note"]
    for shown in (text(waited), json.dumps(waited.structured_content, ensure_ascii=False), text(refused)):
        assert _clean(shown), shown[:200]


async def test_a_snapshot_id_that_is_not_a_uuid_is_no_way_back(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    answer = {"id": HOSTILE, "volume_id": EXAMPLE_VOLUME_ID, "size": 100, "status": "available", "name": "x"}
    emulator.state.add_fault(Fault("snapshot", body=answer))
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    async with Client(server) as client:
        result = await client.call_tool("extend_volume", _args(104, snapshot_first=True))
    assert result.is_error
    assert "not a UUID" in text(result)
    assert _clean(text(result))
    assert emulator.state.requests("PUT") == []
    assert _clean(log.read_text())


def test_the_audit_command_and_doctor_print_no_escape_sequences(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scp_volume_mcp.audit.command import render
    from scp_volume_mcp.doctor import run_doctor

    tampered = {"time": "2026-11-27T10:00:00+00:00", "phase": "outcome", "volume_id": EXAMPLE_VOLUME_ID,
                "requested_size_gb": 104, "outcome": "refused", "snapshot_id": HOSTILE, "detail": HOSTILE}  # fmt: skip
    assert _clean(render(tampered))
    for name, value in scp_env(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    emulator.state.add_fault(Fault("list", status=401, detail=HOSTILE))
    out = __import__("io").StringIO()
    assert run_doctor(out) == 1
    assert _clean(out.getvalue())
    assert httpx.get(f"{emulator.url}/_emulator/journal").status_code == 200


# --- second review ----------------------------------------------------------------------------------


async def test_a_call_cancelled_during_its_put_still_blocks_the_next_resize(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("extend", latency_s=1.0))  # applied once the second has passed
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("extend_volume", _args(104))
        second = await client.call_tool("extend_volume", _args(200))
    assert second.is_error
    assert "already in progress" in text(second)
    assert emulator.state.journal.wait_idle()
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_an_accepted_answer_that_already_shows_the_size_still_blocks_the_next_resize(
    emulator: EmulatorServer,
) -> None:
    emulator.state.settings.extend_seconds = 3.0
    emulator.state.settings.attached_stays_in_use = True
    emulator.state.add_fault(Fault("extend", body=_volume(size=104)))  # the 202 body shows the target already
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        await client.call_tool("extend_volume", _args(104))
        second = await client.call_tool("extend_volume", _args(200))
    assert second.is_error
    assert "already in progress" in text(second)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_a_snapshot_read_back_never_takes_another_calls_snapshot(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("snapshot", status=500, skip=1))  # the second POST fails, nothing created
    async with Client(build_server(FLAG, client_factory(emulator))) as client, anyio.create_task_group() as tg:
        results: list[Any] = []

        async def call(size: int) -> None:
            results.append(await client.call_tool("extend_volume", _args(size, snapshot_first=True)))

        tg.start_soon(call, 104)
        tg.start_soon(call, 200)
    first, second = results
    assert not first.is_error, text(first)
    assert second.is_error
    assert "Nothing was resized" in text(second)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]
    names = [e.body["name"] for e in emulator.state.requests("POST")]
    assert len(names) == len(set(names)) == 2

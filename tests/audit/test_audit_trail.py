"""The audit trail against an adversary: written before the resize leaves, finished whatever happens to the call."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from scp_volume_mcp.audit import UNKNOWN, AuditRecord, FileAuditTrail, attempts
from scp_volume_mcp.audit.command import read_file
from scp_volume_mcp.emulator import EmulatorServer, Fault, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, text

pytestmark = pytest.mark.anyio


def _args(size: int = 104, **more: Any) -> dict[str, Any]:
    return {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": size, "confirm": True, **more}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _settings(log: Path) -> ServerSettings:
    return ServerSettings(confirmation="flag", audit_log=log, poll_interval_s=0.05)


@pytest.mark.slow
async def test_the_intent_is_on_disk_before_the_resize_arrives(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    emulator.state.add_fault(Fault("extend", latency_s=1.0))  # the emulator handles the PUT after this pause
    seen_during_put: list[list[dict[str, Any]]] = []
    async with (
        Client(build_server(_settings(log), client_factory(emulator))) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(client.call_tool, "extend_volume", _args())
        while not log.exists() or not log.read_text():  # noqa: ASYNC110 - the file is written by the server task
            await anyio.sleep(0.01)
        seen_during_put.append(_lines(log))
    [[intent]] = seen_during_put
    assert (intent["phase"], intent["outcome"]) == ("intent", None)
    assert [line["phase"] for line in _lines(log)] == ["intent", "outcome"]


@pytest.mark.parametrize("where", ["/dev/full", "a directory", "a missing folder"])
async def test_an_intent_that_cannot_be_written_sends_nothing(
    emulator: EmulatorServer, tmp_path: Path, where: str
) -> None:
    log = {"/dev/full": Path("/dev/full"), "a directory": tmp_path, "a missing folder": tmp_path / "no" / "a"}[where]
    async with Client(build_server(_settings(log), client_factory(emulator))) as client:
        result = await client.call_tool("extend_volume", _args())
    assert result.is_error
    assert "fail closed" in text(result)
    assert "Nothing was sent" in text(result)
    assert emulator.state.requests("PUT") == []


def _slow_server(emulator: EmulatorServer, log: Path, when: str) -> Any:
    """A server whose extension is slow at `when`: a 1 s PUT, or a 3 s extension to wait for."""
    if when == "while the PUT is in flight":
        emulator.state.add_fault(Fault("extend", latency_s=1.0))
    else:
        emulator.state.settings.extend_seconds = 3.0
    return build_server(_settings(log), client_factory(emulator))


@pytest.mark.parametrize("when", ["while the PUT is in flight", "while waiting"])
async def test_a_cancelled_call_still_leaves_its_outcome(emulator: EmulatorServer, tmp_path: Path, when: str) -> None:
    log = tmp_path / "audit.jsonl"
    server = _slow_server(emulator, log, when)
    async with Client(server) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "extend_volume", _args(wait=True))
        while len(log.read_text().splitlines() if log.exists() else []) < 1:  # noqa: ASYNC110
            await anyio.sleep(0.01)
        if when == "while waiting":
            while not emulator.state.requests("PUT"):  # noqa: ASYNC110 - the emulator runs on its own thread
                await anyio.sleep(0.01)
            await anyio.sleep(0.3)
        else:  # the intent is written just before the PUT leaves: wait until the emulator is serving it
            while emulator.state.journal.in_flight == 0:  # noqa: ASYNC110 - the emulator runs on its own thread
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()  # the client cancels the request (notifications/cancelled)
    assert emulator.state.journal.wait_idle()
    intent, outcome = _lines(log)
    assert (intent["phase"], outcome["phase"], outcome["attempt_id"]) == ("intent", "outcome", intent["attempt_id"])
    assert outcome["outcome"] == "interrupted"
    assert "after the resize request was sent" in outcome["detail"]
    assert "reading back showed" in outcome["detail"]
    assert len(emulator.state.requests("PUT")) == 1


@pytest.mark.parametrize("when", ["while the PUT is in flight", "while waiting"])
async def test_a_client_that_disconnects_still_leaves_the_outcome(
    emulator: EmulatorServer, tmp_path: Path, when: str
) -> None:
    log = tmp_path / "audit.jsonl"
    server = _slow_server(emulator, log, when)
    with anyio.move_on_after(0.6):  # the whole client goes away: session, streams and all
        async with Client(server) as client:
            await client.call_tool("extend_volume", _args(wait=True))
    assert emulator.state.journal.wait_idle()
    phases = [(line["phase"], line["outcome"]) for line in _lines(log)]
    assert phases == [("intent", None), ("outcome", "interrupted")]


def test_an_intent_without_an_outcome_reads_as_outcome_unknown(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = FileAuditTrail(path)
    intent = AuditRecord(phase="intent", attempt_id="a1", outcome=None, tool="extend_volume",
                         volume_id=EXAMPLE_VOLUME_ID, previous_size_gb=100, requested_size_gb=104,
                         api_version="1.3")  # fmt: skip
    log.append(intent)  # killed after this
    log.append(replace(intent, attempt_id="a2"))
    log.append(replace(intent, phase="outcome", attempt_id="a2", outcome="completed"))
    assert [a["outcome"] for a in attempts(read_file(path))] == [UNKNOWN, "completed"]


def test_audit_lines_escape_line_separators_and_cap_details(tmp_path: Path) -> None:
    record = AuditRecord(
        phase="outcome", attempt_id="a", tool="extend_volume", volume_id=EXAMPLE_VOLUME_ID, previous_size_gb=1,
        requested_size_gb=2, outcome="refused", api_version="\u2028x\u2029", detail="d" * 100_000,
    )  # fmt: skip
    line = record.line()
    assert "\u2028" not in line
    assert "\u2029" not in line
    assert len(line) < 2_000
    assert line.count("\n") == 1


@pytest.mark.slow
async def test_eighty_refusals_of_a_long_named_volume_stay_small(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    volume = {v["id"]: v for v in default_volumes()}[EXAMPLE_VOLUME_ID]
    emulator.state.put({**volume, "name": "x" * 200_000})
    async with Client(build_server(_settings(log), client_factory(emulator))) as client:
        for _ in range(80):
            result = await client.call_tool("extend_volume", _args(96))
            assert result.is_error
    assert len(_lines(log)) == 80
    assert log.stat().st_size < 80 * 1_000


class _SlowOutcomes(FileAuditTrail):
    """A trail that takes a second to store outcomes, as a busy database might."""

    writing_outcome = False

    async def write(self, record: AuditRecord) -> None:
        if record.phase == "outcome":
            self.writing_outcome = True
            await anyio.sleep(1.0)
        await super().write(record)


@pytest.mark.slow
async def test_a_cancellation_during_the_outcome_write_does_not_lose_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", poll_interval_s=0.05), client_factory(emulator))
    trail = _SlowOutcomes(log)
    server.app_state = replace(server.app_state, audit=trail)
    async with Client(server) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "extend_volume", _args(104))
        while not trail.writing_outcome:  # noqa: ASYNC110 - set by the server's task
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()  # the outcome write has started
    with anyio.fail_after(10):  # the shielded write finishes on its own (in about a second)
        while len(log.read_text().splitlines()) < 2:  # noqa: ASYNC110 - written by the server's task
            await anyio.sleep(0.02)
    phases = [(r["phase"], r["outcome"]) for r in map(json.loads, log.read_text().splitlines())]
    assert phases == [("intent", None), ("outcome", "completed")]

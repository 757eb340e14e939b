"""Many calls at once, and the audit trail they leave."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.types import Implementation

from scp_volume_mcp.audit import attempts
from scp_volume_mcp.audit.records import replica_name
from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import answer, client_factory, text

pytestmark = pytest.mark.anyio
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)


def _args(volume_id: str, size: int) -> dict[str, Any]:
    return {"volume_id": volume_id, "new_size_gb": size, "confirm": True}


async def _gather(client: Client, calls: list[dict[str, Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    async def one(index: int) -> None:
        results[index] = await client.call_tool("extend_volume", calls[index])

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(one, index)
    return results


@pytest.mark.parametrize("extend_seconds", [0.0, 2.0])
async def test_twenty_concurrent_extends_of_one_volume_send_one_put(
    emulator: EmulatorServer, extend_seconds: float
) -> None:
    emulator.state.settings.extend_seconds = extend_seconds
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        results = await _gather(client, [_args(EXAMPLE_VOLUME_ID, 104)] * 20)
    assert len(emulator.state.requests("PUT")) == 1
    sent = [r for r in results if r.structured_content and r.structured_content["request_sent"]]
    assert len(sent) == 1
    for result in results:
        if result is sent[0]:
            continue
        # Asking again for the size under way is no error: it says so and sends nothing.
        assert not result.is_error, text(result)
        assert result.structured_content["outcome"] in ("under_way", "unchanged"), text(result)
        assert result.structured_content["request_sent"] is False


@pytest.mark.slow
async def test_fifty_concurrent_extends_of_different_volumes_all_succeed(emulator: EmulatorServer) -> None:
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(50)]
    for index, volume_id in enumerate(ids):
        emulator.state.put({"id": volume_id, "name": f"bulk-{index}", "size": 16, "state": "available", "servers": []})
    async with Client(build_server(FLAG, client_factory(emulator))) as client:
        results = await _gather(client, [_args(volume_id, 24) for volume_id in ids])
    assert [r.structured_content["outcome"] for r in results] == ["completed"] * 50, [text(r) for r in results]
    puts = emulator.state.requests("PUT")
    assert sorted(p.path for p in puts) == sorted(f"/v1/volumes/{i}/size" for i in ids)
    assert all(emulator.state.get(i)["size"] == 24 for i in ids)  # type: ignore[index]


# --- audit ----------------------------------------------------------------------------------------


async def test_a_snapshot_read_back_never_takes_another_calls_snapshot(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("snapshot", status=500, skip=1))  # the second POST fails, nothing created
    async with Client(build_server(FLAG, client_factory(emulator))) as client, anyio.create_task_group() as tg:
        results: dict[int, Any] = {}

        async def call(size: int) -> None:
            arguments = {**_args(EXAMPLE_VOLUME_ID, size), "snapshot_first": True}
            results[size] = await client.call_tool("extend_volume", arguments)

        # The second call starts once the first has taken its snapshot (and so holds the volume's lock): started
        # together, either could take the lock first, and 104 after 200 is refused before any snapshot.
        tg.start_soon(call, 104)
        with anyio.fail_after(10):
            while not emulator.state.requests("POST"):  # noqa: ASYNC110 - the emulator runs on its own thread
                await anyio.sleep(0.005)
        tg.start_soon(call, 200)
    first, second = results[104], results[200]
    assert not first.is_error, text(first)
    assert second.is_error
    assert "Nothing was resized" in text(second)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]
    names = [e.body["name"] for e in emulator.state.requests("POST")]
    assert len(names) == len(set(names)) == 2


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_every_attempt_is_audited_before_the_result_returns(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    settings = ServerSettings(audit_log=log, poll_interval_s=0.05)
    info = Implementation(name="runbook-7", version="1.0")
    server = build_server(settings, client_factory(emulator))
    async with Client(server, client_info=info, elicitation_callback=answer("accept")) as client:
        await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
        assert len(_lines(log)) == 2  # intent and outcome, written before the result came back
        await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 96))
        await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
        emulator.state.add_fault(Fault("extend", status=409))
        await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 112))
    async with Client(server, elicitation_callback=answer("decline")) as client:
        await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 120))
    lines = _lines(log)
    assert [line["phase"] for line in lines] == [
        "intent",
        "outcome",
        "outcome",
        "outcome",
        "intent",
        "outcome",
        "outcome",
    ]
    intent, completed = lines[0], lines[1]
    assert intent["attempt_id"] == completed["attempt_id"]
    assert (intent["outcome"], intent["http_status"], intent["previous_size_gb"]) == (None, None, 100)
    completed_, refused, unchanged, failed, declined = attempts(lines)
    assert completed_ == completed
    assert len({line["attempt_id"] for line in lines}) == 5
    assert {k: completed[k] for k in completed if k not in ("time", "attempt_id")} == {
        "endpoint": emulator.url,
        "phase": "outcome",
        "tool": "extend_volume",
        "volume_id": EXAMPLE_VOLUME_ID,
        "previous_size_gb": 100,
        "requested_size_gb": 104,
        "outcome": "completed",
        "api_version": "1.3",
        "http_status": 202,
        "request_id": emulator.state.requests("PUT")[0].request_id,
        "client_claimed": "runbook-7",
        "caller": None,
        "detail": None,
        "snapshot_id": None,
        "replica": replica_name(),
        "resize_pending": False,
    }
    assert completed["time"].endswith("+00:00")
    assert (refused["outcome"], refused["requested_size_gb"], refused["http_status"]) == ("refused", 96, None)
    assert "volumes can only grow" in refused["detail"]
    assert unchanged["outcome"] == "unchanged"
    assert (failed["outcome"], failed["http_status"]) == ("failed", 409)
    assert failed["request_id"] == emulator.state.requests("PUT")[-1].request_id
    assert declined["outcome"] == "declined"


@pytest.mark.parametrize("where", ["missing folder", "a directory"])
async def test_an_unwritable_audit_log_refuses_the_extension(
    emulator: EmulatorServer, tmp_path: Path, where: str
) -> None:
    log = tmp_path / "nope" / "audit.jsonl" if where == "missing folder" else tmp_path
    settings = ServerSettings(confirmation="flag", audit_log=log)
    async with Client(build_server(settings, client_factory(emulator))) as client:
        result = await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
    assert result.is_error
    assert "fail closed" in text(result)
    assert "Nothing was sent" in text(result)
    assert emulator.state.requests("PUT") == []


async def test_extend_called_directly_outside_a_request_is_audited(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    result = await server.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
    assert not isinstance(result, Exception)
    assert not result.is_error  # type: ignore[union-attr]
    [_, line] = _lines(log)
    assert (line["outcome"], line["client_claimed"]) == ("completed", None)


class _ResendCannotConnect(httpx.AsyncBaseTransport):
    """Forwards to the real emulator, but the second PUT finds no server (the emulator cannot do that itself)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._puts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self._puts += 1
            if self._puts == 2:
                raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_send_whose_answer_was_lost_is_audited_as_sent_and_pending(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(confirmation="flag", audit_log=log), client_factory(emulator))
    emulator.state.add_fault(Fault("extend", drop=True, apply=False))
    async with Client(server) as client:
        result = await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
    assert result.is_error
    assert "Nothing was sent" not in text(result)
    [_, line] = _lines(log)
    assert (line["outcome"], line["resize_pending"]) == ("failed", True)  # a request did reach the platform
    assert len(emulator.state.requests("PUT")) == 1


async def test_an_extension_that_fails_while_waiting_is_audited(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    emulator.state.settings.extend_seconds = 30
    settings = ServerSettings(confirmation="flag", audit_log=log, poll_interval_s=0.05)
    results: list[Any] = []
    async with Client(build_server(settings, client_factory(emulator))) as client:

        async def extend() -> None:
            results.append(await client.call_tool("extend_volume", {**_args(EXAMPLE_VOLUME_ID, 104), "wait": True}))

        async with anyio.create_task_group() as group:
            group.start_soon(extend)
            while not emulator.state.requests("PUT"):  # noqa: ASYNC110 - the emulator runs on its own thread
                await anyio.sleep(0.02)
            failed = emulator.state.get(EXAMPLE_VOLUME_ID)
            assert failed is not None
            emulator.state.put({**failed, "state": "error_extending"})
    [result] = results
    assert result.is_error
    assert "failed: the volume is error_extending" in text(result)
    [_, line] = _lines(log)
    assert (line["outcome"], line["http_status"]) == ("failed", 202)


async def test_a_refusal_by_the_human_policy_is_audited(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    settings = ServerSettings(confirmation="human", audit_log=log)
    async with Client(build_server(settings, client_factory(emulator))) as client:
        result = await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, 104))
    assert result.is_error
    [line] = _lines(log)
    assert (line["outcome"], line["requested_size_gb"]) == ("refused", 104)
    assert "SCP_CONFIRMATION=human" in line["detail"]
    assert emulator.state.requests("PUT") == []


@pytest.mark.slow
@pytest.mark.parametrize("target", [104, 112])
async def test_a_check_that_overlapped_a_slow_resize_is_redone(emulator: EmulatorServer, target: int) -> None:
    """With the PUT taking 2 s, a second call that checked while it was in flight must not trust that check."""
    emulator.state.add_fault(Fault("extend", latency_s=2.0))
    results: list[Any] = []
    async with Client(build_server(FLAG, client_factory(emulator))) as client, anyio.create_task_group() as tg:

        async def call(size: int) -> None:
            results.append(await client.call_tool("extend_volume", _args(EXAMPLE_VOLUME_ID, size)))

        tg.start_soon(call, 104)
        while emulator.state.journal.in_flight == 0:  # noqa: ASYNC110 - the emulator runs on its own thread
            await anyio.sleep(0.01)  # until the first PUT is in flight
        tg.start_soon(call, target)
    first, second = results
    assert first.structured_content["outcome"] == "completed"
    if target == 104:
        assert len(emulator.state.requests("PUT")) == 1
        assert second.structured_content["outcome"] == "unchanged"
        assert second.structured_content["previous_size_gb"] == 104  # the true size, not the stale 100
    else:
        assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}, {"size": 112}]
        assert second.structured_content["previous_size_gb"] == 104

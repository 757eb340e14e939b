"""The MCP tools through a real client session, against the emulator over loopback HTTP."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from scp_volume_mcp.emulator import EmulatorServer, Fault, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import answer, connect, text

pytestmark = pytest.mark.anyio
VOLUMES = {v["name"]: v["id"] for v in default_volumes()}
MODES = ["auto", "legacy"]
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)


def extend_args(size: int, volume: str = EXAMPLE_VOLUME_ID, **more: Any) -> dict[str, Any]:
    return {"volume_id": volume, "new_size_gb": size, "confirm": True, **more}


def no_put(emulator: EmulatorServer) -> bool:
    return emulator.state.requests("PUT") == []


# --- listing and schemas ------------------------------------------------------------------------


async def test_tools_are_described_and_annotated(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        tools = session.tools
    assert list(tools) == ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]  # not the card's
    for tool in tools.values():
        assert tool.title
        assert tool.description
        assert tool.output_schema is not None
        assert tool.annotations is not None
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    for name in ("list_volumes", "get_volume", "plan_volume_extension"):
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
    extend = tools["extend_volume"]
    hints = extend.annotations
    assert hints is not None
    assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
        False,
        True,
        True,
        True,
    )
    props = extend.input_schema["properties"]
    assert props["volume_id"]["pattern"].startswith("^[0-9a-fA-F]{8}-")
    assert (
        props["new_size_gb"]["type"],
        props["new_size_gb"]["minimum"],
        props["new_size_gb"]["multipleOf"],
    ) == (
        "integer",
        16,
        8,
    )
    assert props["confirm"]["const"] is True
    assert "snapshot" in props["confirm"]["description"]
    assert set(extend.input_schema["required"]) == {"volume_id", "new_size_gb", "confirm"}


async def test_read_only_mode_does_not_offer_extend(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=ServerSettings(read_only=True)) as session:
        assert "extend_volume" not in session.tools
        with pytest.raises(MCPError, match="Unknown tool: extend_volume"):  # -32602, see test_model_reads
            await session.client.call_tool("extend_volume", extend_args(104))
    assert no_put(emulator)


@pytest.mark.parametrize("mode", MODES)
async def test_list_volumes(emulator: EmulatorServer, mode: str) -> None:
    async with connect(emulator, mode=mode) as session:
        everything = await session.call("list_volumes", {})
        by_name = await session.call("list_volumes", {"name": "db-in-use"})
        available = await session.call("list_volumes", {"state": "available"})
        capped = await session.call("list_volumes", {"limit": 2})
    assert everything.structured_content is not None
    assert everything.structured_content["returned"] == 7
    assert by_name.structured_content is not None
    [volume] = by_name.structured_content["volumes"]
    assert (volume["id"], volume["size_gb"], volume["attachments"][0]["device"]) == (
        VOLUMES["db-in-use"],
        200,
        "/dev/vdb",
    )
    assert "checksum" not in str(everything.structured_content)
    assert "user_id" not in str(everything.structured_content)
    assert available.structured_content is not None
    assert {v["state"] for v in available.structured_content["volumes"]} == {"available"}
    assert capped.structured_content is not None
    assert (capped.structured_content["returned"], capped.structured_content["truncated"]) == (2, True)
    assert "more match" in text(capped)


async def test_get_volume(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        result = await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        unknown = await session.call("get_volume", {"volume_id": "00000000-0000-4000-8000-000000000000"})
        malformed = await session.call("get_volume", {"volume_id": "../quota-sets"})
    assert result.structured_content is not None
    assert result.structured_content["max_iops"] == 10000
    assert "attached to 2a9be312-5d4b-4bc8-b2ae-35100fa9241f at /dev/vda" in text(result)
    assert unknown.is_error
    assert "No volume 00000000-0000-4000-8000-000000000000" in text(unknown)
    assert malformed.is_error
    # Two reads of a volume and nothing else: the malformed id never became a request.
    assert [(e.method, e.route) for e in emulator.state.journal] == [("GET", "show"), ("GET", "show")]


async def test_old_api_version_has_no_performance_fields(emulator: EmulatorServer) -> None:
    from datetime import date

    from scp_volume_mcp.scp import ScpClient, load_config
    from scp_volume_mcp.server import build_server

    from ..mcp_helpers import Client

    def factory() -> ScpClient:
        config = load_config(
            access_key="emulator-access-key",
            secret_key="emulator-secret-key",
            endpoint=emulator.url,
            api_version="1.1",
            env={},
        )
        return ScpClient(config, today=date(2026, 1, 1))

    async with Client(build_server(FLAG, factory)) as client:
        result = await client.call_tool("extend_volume", extend_args(104))
    assert result.structured_content is not None
    assert (result.structured_content["api_version"], result.structured_content["max_iops"]) == ("1.1", None)
    assert emulator.state.requests("PUT")[0].version_header == "virtualserver 1.1"


# --- plan -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size", "accepted", "verdict", "reason"),
    [
        ("volume01", 104, True, "extend", None),
        ("volume01", 100, False, "refused", "multiples of 8 GB: try 104 GB"),  # as extend_volume would say
        ("data-available", 64, False, "unchanged", None),
        ("volume01", 96, False, "refused", "volumes can only grow: current 100 GB, requested 96 GB"),
        ("volume01", 106, False, "refused", "try 104 or 112 GB"),
        ("busy-extending", 56, False, "refused", "already in progress"),
        ("broken-error", 40, False, "refused", 'the volume is "error"'),
        ("volume01", 1032, False, "refused", "per-volume quota of 1024 GB"),
    ],
)
async def test_plan(
    emulator: EmulatorServer, name: str, size: int, accepted: bool, verdict: str, reason: str | None
) -> None:
    emulator.state.settings.per_volume_limit_gb = 1024
    async with connect(emulator) as session:
        result = await session.call("plan_volume_extension", {"volume_id": VOLUMES[name], "new_size_gb": size})
    plan = result.structured_content
    assert plan is not None
    assert (plan["would_be_accepted"], plan["outcome_if_called"]) == (accepted, verdict)
    if reason:
        assert any(reason in r for r in plan["reasons"])
        assert reason in text(result)
    if accepted:
        assert plan["call"] == {"name": "extend_volume", "arguments": extend_args(size)}
        assert plan["growth_gb"] == 4
        assert any("growpart" in step for step in plan["next_steps"])
    else:  # nothing would be sent, so there is nothing to do in the guest
        assert plan["next_steps"] == []
    assert {e.method for e in emulator.state.journal} == {"GET"}


# --- extend: outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_extend_completes_and_sends_one_signed_put(emulator: EmulatorServer, mode: str) -> None:
    async with connect(emulator, mode=mode, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert not result.is_error, text(result)
    out = result.structured_content
    assert out is not None
    assert (out["outcome"], out["previous_size_gb"], out["new_size_gb"], out["state"]) == (
        "completed",
        100,
        104,
        "in-use",
    )
    assert (out["confirmed_by"], out["request_sent"], out["api_version"]) == ("flag", True, "1.3")
    assert out["attachments"] == [{"server_id": "2a9be312-5d4b-4bc8-b2ae-35100fa9241f", "device": "/dev/vda"}]
    assert any("growpart" in step for step in out["next_steps"])
    assert any("snapshot" in step for step in out["next_steps"])
    [put] = emulator.state.requests("PUT")
    assert (put.body, put.signature_valid, put.version_header) == ({"size": 104}, True, "virtualserver 1.3")
    assert len(emulator.state.requests("GET", "show")) == 1  # one read, one write


async def test_extend_without_wait_reports_accepted(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 5
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert result.structured_content is not None
    assert (result.structured_content["outcome"], result.structured_content["state"]) == (
        "accepted",
        "extending",
    )
    assert "get_volume" in text(result)


@pytest.mark.parametrize("mode", MODES)
async def test_extend_with_wait_reports_progress_until_completed(emulator: EmulatorServer, mode: str) -> None:
    emulator.state.settings.extend_seconds = 0.5
    async with connect(emulator, mode=mode, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104, wait=True, timeout_s=10))
        progress = session.progress
    out = result.structured_content
    assert out is not None
    assert (out["outcome"], out["observed_size_gb"], out["state"]) == ("completed", 104, "in-use")
    assert out["waited_s"] >= 0.4
    assert len(progress) >= 2
    assert all(total == 10 for _, total, _ in progress)
    assert "extending" in (progress[0][2] or "")


async def test_wait_watches_size_when_the_state_stays_in_use(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 0.5
    emulator.state.settings.attached_stays_in_use = True
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104, wait=True, timeout_s=10))
    assert result.structured_content is not None
    assert (result.structured_content["outcome"], result.structured_content["observed_size_gb"]) == (
        "completed",
        104,
    )
    assert result.structured_content["waited_s"] >= 0.4


async def test_wait_timeout_reports_the_last_state_seen(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 30
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104, wait=True, timeout_s=0.5))
    assert not result.is_error
    out = result.structured_content
    assert out is not None
    assert (out["outcome"], out["state"], out["observed_size_gb"]) == ("accepted", "extending", 100)
    assert "after 0.5 s" in out["note"]
    assert len(emulator.state.requests("PUT")) == 1


async def test_same_size_is_unchanged_and_sends_nothing(emulator: EmulatorServer) -> None:
    async with connect(emulator, elicitation=answer("accept")) as session:
        result = await session.call("extend_volume", extend_args(64, VOLUMES["data-available"]))
    assert result.structured_content is not None
    assert (result.structured_content["outcome"], result.structured_content["request_sent"]) == (
        "unchanged",
        False,
    )
    assert no_put(emulator)


# --- extend: guards -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (extend_args(96), "volumes can only grow: current 100 GB, requested 96 GB"),
        (extend_args(56, VOLUMES["busy-extending"]), "already in progress"),
        (extend_args(40, VOLUMES["broken-error"]), 'the volume is "error"'),
        (extend_args(24, VOLUMES["new-creating"]), 'the volume is "creating"'),
        (extend_args(1032), "per-volume quota of 1024 GB"),
        (extend_args(104, "00000000-0000-4000-8000-000000000000"), "No volume"),
        ({**extend_args(104), "confirm": False}, "confirm"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104}, "confirm"),
        (extend_args(100), "sizes must be multiples of 8 GB: try 96 or 104 GB"),
        (extend_args(8), "at least 16 GB"),
        (extend_args(104, "not-a-uuid"), "volume_id"),
        (extend_args(104, EXAMPLE_VOLUME_ID + "\n"), "volume_id"),
        ({**extend_args(104), "timeout_s": 0}, "timeout_s"),
    ],
)
@pytest.mark.parametrize("mode", MODES)
async def test_refused_calls_send_no_put(
    emulator: EmulatorServer, mode: str, arguments: dict[str, Any], message: str
) -> None:
    emulator.state.settings.per_volume_limit_gb = 1024
    async with connect(emulator, mode=mode, elicitation=answer("accept")) as session:
        result = await session.call("extend_volume", arguments)
    assert result.is_error
    assert message in text(result)
    assert no_put(emulator)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Check SCP_ACCESS_KEY and SCP_SECRET_KEY"),
        (409, "busy or in a state that forbids it"),
        (400, "SCP refused the request (400): Injected fault: status 400"),
        (503, "may be under way"),
    ],
)
async def test_platform_errors_become_actionable_tool_errors(
    emulator: EmulatorServer, status: int, message: str
) -> None:
    emulator.state.add_fault(Fault("extend", status=status))
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert result.is_error
    assert message in text(result)
    assert len(emulator.state.requests("PUT")) == 1


# --- confirmation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_human_accepts(emulator: EmulatorServer, mode: str) -> None:
    asked: list[str] = []
    async with connect(emulator, mode=mode, elicitation=answer("accept", asked=asked)) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert result.structured_content is not None
    assert result.structured_content["confirmed_by"] == "human"
    [question] = asked
    assert "volume01" in question
    assert "100 GB to 104 GB" in question
    assert "cannot be undone" in question
    assert len(emulator.state.requests("PUT")) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "confirm", "outcome"),
    [("decline", None, "declined"), ("cancel", None, "cancelled"), ("accept", False, "declined")],
)
async def test_human_declines_or_cancels(
    emulator: EmulatorServer, mode: str, action: str, confirm: bool | None, outcome: str
) -> None:
    async with connect(emulator, mode=mode, elicitation=answer(action, confirm)) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert not result.is_error
    assert result.structured_content is not None
    assert (result.structured_content["outcome"], result.structured_content["request_sent"]) == (
        outcome,
        False,
    )
    assert "nothing was sent" in text(result)
    assert no_put(emulator)


@pytest.mark.parametrize("mode", MODES)
async def test_auto_without_elicitation_relies_on_the_flag(emulator: EmulatorServer, mode: str) -> None:
    async with connect(emulator, mode=mode) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert result.structured_content is not None
    assert result.structured_content["confirmed_by"] == "flag"
    assert len(emulator.state.requests("PUT")) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_human_policy_refuses_when_no_human_can_be_asked(emulator: EmulatorServer, mode: str) -> None:
    settings = ServerSettings(confirmation="human")
    async with connect(emulator, mode=mode, settings=settings) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert result.is_error
    assert "SCP_CONFIRMATION=human" in text(result)
    assert no_put(emulator)


async def test_flag_policy_never_asks(emulator: EmulatorServer) -> None:
    asked: list[str] = []
    async with connect(emulator, settings=FLAG, elicitation=answer("decline", asked=asked)) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert asked == []
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "completed"


# --- concurrency ----------------------------------------------------------------------------------


async def test_two_concurrent_calls_on_one_volume_send_one_put(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 2
    results: list[Any] = []
    async with connect(emulator, settings=FLAG) as session:

        async def extend() -> None:
            results.append(await session.call("extend_volume", extend_args(104)))

        async with anyio.create_task_group() as group:
            group.start_soon(extend)
            group.start_soon(extend)
    assert len(emulator.state.requests("PUT")) == 1
    assert not any(r.is_error for r in results), [text(r) for r in results]
    outcomes = sorted(r.structured_content["outcome"] for r in results)
    assert outcomes == ["accepted", "under_way"], outcomes  # the same size again: said, nothing more sent
    [repeat] = [r for r in results if r.structured_content["outcome"] == "under_way"]
    assert repeat.structured_content["request_sent"] is False
    assert "already under way" in text(repeat)
    assert "nothing more was sent" in text(repeat)

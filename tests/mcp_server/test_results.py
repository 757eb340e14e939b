"""What the model reads matches what the server does (issue #21, items 1 to 10 and 12): the instructions, plans,
schemas, refusals, progress and confirmation texts, through a real MCP client session."""

from __future__ import annotations

import time
from typing import Any

import anyio
import jsonschema
import pytest
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, ElicitRequestParams, ElicitResult

from scp_volume_mcp.emulator import EmulatorServer, EmulatorState, default_volumes
from scp_volume_mcp.models import Refusal
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, MAX_VOLUME_SIZE_GB, ScpClient, ScpConfig
from scp_volume_mcp.settings import ServerSettings
from scp_volume_mcp.snapshots import reusable_snapshot, snapshot_name

from ..mcp_helpers import answer, connect, text

pytestmark = pytest.mark.anyio
VOLUMES = {v["name"]: v["id"] for v in default_volumes()}
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)
MUTATING_HINTS = ("extend_volume", "snapshot_first", "confirm=true", "growpart")


def extend_args(size: int, volume: str = EXAMPLE_VOLUME_ID, **more: Any) -> dict[str, Any]:
    return {"volume_id": volume, "new_size_gb": size, "confirm": True, **more}


def plan_args(size: int, volume: str = EXAMPLE_VOLUME_ID) -> dict[str, Any]:
    return {"volume_id": volume, "new_size_gb": size}


# --- 1. read-only mode offers no mutating hint ------------------------------------------------------


@pytest.mark.parametrize("policy", ["optional", "required"])
async def test_read_only_mode_drops_every_mutating_hint(emulator: EmulatorServer, policy: str) -> None:
    settings = ServerSettings(read_only=True, snapshot_policy=policy)  # type: ignore[arg-type]
    async with connect(emulator, settings=settings) as session:
        instructions = session.client.instructions or ""
        descriptions = " ".join(t.description or "" for t in session.tools.values())
        plans = [
            await session.call("plan_volume_extension", plan_args(size, volume))
            for size, volume in ((104, EXAMPLE_VOLUME_ID), (72, VOLUMES["data-available"]))
        ]
    assert "extend_volume" not in session.tools
    for plan in plans:
        assert plan.structured_content is not None
        assert plan.structured_content["would_be_accepted"] is True  # what the platform would accept
        assert plan.structured_content["call"] is None
        assert plan.structured_content["next_steps"] == []
        for hint in MUTATING_HINTS:
            assert hint not in text(plan), text(plan)
        assert "read-only" in text(plan)
    for hint in MUTATING_HINTS:
        assert hint not in instructions, instructions
        assert hint not in descriptions, descriptions


# --- 2. arguments the schema does not offer, and lax types, are refused ---------------------------


async def test_snapshot_first_under_policy_off_is_refused_and_nothing_is_sent(emulator: EmulatorServer) -> None:
    settings = ServerSettings(confirmation="flag", snapshot_policy="off", poll_interval_s=0.05)
    async with connect(emulator, settings=settings) as session:
        schema = session.tools["extend_volume"].input_schema
        result = await session.call("extend_volume", extend_args(104, snapshot_first=True))
    assert schema.get("additionalProperties") is False
    assert result.is_error
    assert "snapshot_first" in text(result)
    assert "Nothing was sent" in text(result)
    assert emulator.state.requests("PUT") == []
    assert emulator.state.requests("POST") == []


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("extend_volume", extend_args(104, wait="yes"), "wait"),
        ("extend_volume", extend_args(104, timeout_s="5"), "timeout_s"),
        ("extend_volume", extend_args(104, snapshot_first="true"), "snapshot_first"),
        ("extend_volume", extend_args(104, surprise=1), "surprise"),
        ("plan_volume_extension", {**plan_args(104), "new_size_gb": "104"}, "new_size_gb"),
        ("plan_volume_extension", {**plan_args(104), "confirm": True}, "confirm"),
        ("list_volumes", {"limit": "5"}, "limit"),
        ("list_volumes", {"status": "in-use"}, "status"),
        ("get_volume", {"volume_id": EXAMPLE_VOLUME_ID, "verbose": True}, "verbose"),
    ],
)
async def test_unoffered_arguments_and_lax_types_are_refused(
    emulator: EmulatorServer, tool: str, arguments: dict[str, Any], field: str
) -> None:
    async with connect(emulator, settings=FLAG) as session:
        schema = session.tools[tool].input_schema
        result = await session.call(tool, arguments)
    assert schema.get("additionalProperties") is False
    assert result.is_error, text(result)
    assert field in text(result)
    assert emulator.state.requests("PUT") == []


async def test_a_whole_number_timeout_is_still_a_number(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104, timeout_s=5, wait=False))
    assert not result.is_error, text(result)


# --- 3. plan and extend tell one story ------------------------------------------------------------


async def test_plan_and_extend_agree_on_a_size_that_is_not_a_multiple_of_8(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        plan = await session.call("plan_volume_extension", plan_args(100))
        extend = await session.call("extend_volume", extend_args(100))
    assert plan.structured_content is not None
    assert plan.structured_content["outcome_if_called"] == "refused"
    assert extend.is_error
    assert "multiples of 8 GB" in text(plan)
    assert "multiples of 8 GB" in text(extend)
    assert "already has 100 GB" in text(plan)
    assert "try 104 GB" in text(plan)  # not 96: that would be a shrink
    assert "would change nothing" not in text(plan)


async def test_plan_and_extend_agree_on_an_unchanged_size(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        plan = await session.call("plan_volume_extension", plan_args(64, VOLUMES["data-available"]))
        extend = await session.call("extend_volume", extend_args(64, VOLUMES["data-available"]))
    assert plan.structured_content is not None
    assert extend.structured_content is not None
    assert plan.structured_content["outcome_if_called"] == extend.structured_content["outcome"] == "unchanged"


# --- 4. the state filter, whatever its spelling ---------------------------------------------------


@pytest.mark.parametrize("spelling", ["in-use", "In Use", "IN-USE", "in_use", " in use "])
async def test_state_filter_whatever_its_spelling(emulator: EmulatorServer, spelling: str) -> None:
    async with connect(emulator) as session:
        result = await session.call("list_volumes", {"state": spelling})
    assert result.structured_content is not None
    names = {v["name"] for v in result.structured_content["volumes"]}
    assert names == {"volume01", "db-in-use"}, text(result)


# --- 5. new_size_gb has the platform's maximum --------------------------------------------------------


@pytest.mark.parametrize("tool", ["extend_volume", "plan_volume_extension"])
async def test_new_size_has_the_platforms_maximum(emulator: EmulatorServer, tool: str) -> None:
    emulator.state.settings.per_volume_limit_gb = -1  # no quota stated: only the schema stands in the way
    huge = 800000000000000000000000000000
    async with connect(emulator, settings=FLAG) as session:
        schema = session.tools[tool].input_schema["properties"]["new_size_gb"]
        arguments = extend_args(huge) if tool == "extend_volume" else plan_args(huge)
        result = await session.call(tool, arguments)
    assert schema["maximum"] == MAX_VOLUME_SIZE_GB == 12288
    assert result.is_error
    assert "12288 GB" in text(result)
    assert emulator.state.requests("PUT") == []
    assert emulator.state.requests("GET") == []


# --- 7. plans warn only where something would happen -------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "size"),
    [("data-available", 56), ("data-available", 64), ("broken-error", 40), ("busy-extending", 56)],
)
async def test_no_way_back_warning_where_nothing_would_happen(emulator: EmulatorServer, volume: str, size: int) -> None:
    async with connect(emulator) as session:
        result = await session.call("plan_volume_extension", plan_args(size, VOLUMES[volume]))
    assert result.structured_content is not None
    assert result.structured_content["outcome_if_called"] != "extend"
    assert "no way back" not in text(result)
    assert "snapshot_first" not in text(result)


async def test_size_hints_stay_within_the_quota(emulator: EmulatorServer) -> None:
    emulator.state.settings.per_volume_limit_gb = 1024
    async with connect(emulator) as session:
        result = await session.call("plan_volume_extension", plan_args(1030))
    assert result.structured_content is not None
    assert result.structured_content["outcome_if_called"] == "refused"
    assert "1032" not in text(result)
    assert "try 1024 GB" in text(result)
    assert "per-volume quota of 1024 GB" in text(result)


# --- 8. refusals are typed objects too ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "reason", "current"),
    [
        (extend_args(96), "shrink", 100),
        (extend_args(40, VOLUMES["broken-error"]), "state", 32),
        (extend_args(56, VOLUMES["busy-extending"]), "in_progress", 48),
        (extend_args(1032), "quota", 100),
    ],
)
async def test_refusals_have_structured_content(
    emulator: EmulatorServer, arguments: dict[str, Any], reason: str, current: int
) -> None:
    emulator.state.settings.per_volume_limit_gb = 1024
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", arguments)
    assert result.is_error
    out = result.structured_content
    assert out is not None, text(result)
    assert out["outcome"] == "refused"
    assert reason in out["reasons"]
    assert (out["volume_id"], out["current_size_gb"], out["requested_size_gb"]) == (
        arguments["volume_id"],
        current,
        arguments["new_size_gb"],
    )
    assert out["request_sent"] is False
    assert out["message"] == text(result)


async def test_one_output_schema_fits_every_outcome(emulator: EmulatorServer) -> None:
    """Refusals satisfy extend_volume's published output schema, which still requires every field of a result
    that is not a refusal (test_ts_clients: hosts check an error's structured content too)."""
    async with connect(emulator, settings=FLAG) as session:
        schema = session.tools["extend_volume"].output_schema
    assert schema is not None
    assert set(Refusal.model_fields) <= set(schema["properties"])
    unread = Refusal(reasons=["scope"], volume_id=EXAMPLE_VOLUME_ID, current_size_gb=None, requested_size_gb=104,
                     message="m")  # fmt: skip
    jsonschema.validate(unread.model_dump(mode="json"), schema)
    for lacking in ("reasons", "message"):
        with pytest.raises(jsonschema.ValidationError, match=lacking):
            jsonschema.validate(unread.model_dump(mode="json", exclude={lacking}), schema)
    with pytest.raises(jsonschema.ValidationError, match="previous_size_gb"):
        jsonschema.validate({"outcome": "completed", "volume_id": EXAMPLE_VOLUME_ID, "name": None,
                             "request_sent": True}, schema)  # fmt: skip


# --- 9. progress: rounded numbers, one total ------------------------------------------------------------


@pytest.mark.parametrize("snapshot_first", [False, True])
async def test_progress_is_rounded_with_one_total(emulator: EmulatorServer, snapshot_first: bool) -> None:
    emulator.state.settings.extend_seconds = 0.4
    emulator.state.settings.snapshot_seconds = 0.4
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call(
            "extend_volume", extend_args(104, wait=True, timeout_s=30, snapshot_first=snapshot_first)
        )
        progress = session.progress
    assert not result.is_error, text(result)
    assert len(progress) >= 2
    totals = {total for _, total, _ in progress}
    assert len(totals) == 1, progress
    assert totals == {60 if snapshot_first else 30}
    values = [value for value, _, _ in progress]
    assert all(value == round(value, 1) for value in values), values
    assert values == sorted(set(values)), values


# --- 10. confirmation edge texts -----------------------------------------------------------------------


async def test_an_accepted_form_without_content_is_no_valid_answer(emulator: EmulatorServer) -> None:
    async def empty(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content=None)

    async with connect(emulator, elicitation=empty) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert "Resolver" not in text(result)
    assert "scp_volume_mcp" not in text(result)
    assert "no valid answer" in text(result)
    assert "declined" not in text(result)
    assert emulator.state.requests("PUT") == []


@pytest.mark.parametrize("confirm", ["yes", 1, None, "true"])
async def test_an_odd_answer_is_no_valid_answer_not_a_decline(emulator: EmulatorServer, confirm: object) -> None:
    async with connect(emulator, elicitation=answer("accept", confirm)) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert "no valid answer" in text(result)
    assert "The user declined" not in text(result)
    assert emulator.state.requests("PUT") == []


async def test_a_real_decline_still_says_declined(emulator: EmulatorServer) -> None:
    async with connect(emulator, elicitation=answer("accept", False)) as session:
        result = await session.call("extend_volume", extend_args(104))
    assert "The user declined" in text(result)


# --- 12. an unknown tool is a JSON-RPC error ---------------------------------------------------------


async def test_an_unknown_tool_is_invalid_params(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=ServerSettings(read_only=True)) as session:
        with pytest.raises(MCPError) as caught:
            await session.client.call_tool("extend_volume", extend_args(104))
    assert caught.value.error.code == INVALID_PARAMS
    assert "extend_volume" in caught.value.error.message
    assert emulator.state.requests("PUT") == []


# --- 6. after a snapshot timeout: the tool that shows it, and the snapshot reused ----------------------


@pytest.mark.slow
async def test_a_snapshot_that_timed_out_is_reused_once_available(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshot_seconds = 0.8
    async with connect(emulator, settings=FLAG) as session:
        first = await session.call("extend_volume", extend_args(104, snapshot_first=True, timeout_s=0.3))
        assert first.is_error
        assert "plan_volume_extension" in text(first)  # the tool that shows the snapshot and its status
        await anyio.sleep(1.0)
        plan = await session.call("plan_volume_extension", plan_args(104))
        second = await session.call("extend_volume", extend_args(104, snapshot_first=True, timeout_s=5))
    [ours] = [s for s in emulator.state.snapshots(EXAMPLE_VOLUME_ID) if s["name"].startswith("pre-extend")]
    assert plan.structured_content is not None
    assert plan.structured_content["latest_snapshot"]["id"] == ours["id"]
    assert not second.is_error, text(second)
    assert second.structured_content is not None
    assert second.structured_content["snapshot"]["id"] == ours["id"]
    assert "reused" in text(second)
    assert len(emulator.state.requests("POST")) == 1  # one snapshot, not two
    assert len(emulator.state.requests("PUT")) == 1


async def test_a_snapshot_not_remembered_from_a_timeout_is_not_reused(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshot_seconds = 0.0
    volume = {"id": EXAMPLE_VOLUME_ID, "size": 100, "user_id": None}
    earlier = emulator.state.start_snapshot(volume, snapshot_name(EXAMPLE_VOLUME_ID), "another process's")
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(104, snapshot_first=True, timeout_s=5))
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert result.structured_content["snapshot"]["id"] != earlier["id"]
    assert len(emulator.state.requests("POST")) == 1


async def test_a_remembered_snapshot_past_an_hour_or_resized_since_is_not_reused(scp_config: ScpConfig) -> None:
    volume = {"id": EXAMPLE_VOLUME_ID, "size": 100, "user_id": None}
    for now, size in ((time.time() + 2 * 3600, 100), (None, 104)):
        state = EmulatorState()
        state.settings.snapshot_seconds = 0.0
        taken = state.start_snapshot(volume, snapshot_name(EXAMPLE_VOLUME_ID), "timed out")
        with EmulatorServer(state) as other:
            config = ScpConfig(**{**scp_config.__dict__, "endpoint": other.url})
            async with ScpClient(config) as client:
                unfinished = {EXAMPLE_VOLUME_ID: taken["id"]}
                assert await reusable_snapshot(client, unfinished, EXAMPLE_VOLUME_ID, size, now=now) is None
                assert unfinished == {}  # forgotten once judged

"""The way back: snapshot awareness in plans, snapshot-first extensions, SCP_SNAPSHOT_POLICY, and the
emulator's snapshot routes. Judged by the emulator's journal: what was sent, in which order, and when."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from scp_volume_mcp.emulator import EmulatorServer, Fault, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, SNAPSHOT_NAME_PATTERN, ScpClient, ScpInputError
from scp_volume_mcp.settings import ServerSettings, SettingsError
from scp_volume_mcp.snapshots import age_s, snapshot_name

from ..mcp_helpers import answer, connect, text

pytestmark = pytest.mark.anyio
VOLUMES = {v["name"]: v["id"] for v in default_volumes()}
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)
SNAPSHOT_S = 0.5  # realistic: a snapshot is not instant


def extend_args(size: int = 104, volume: str = EXAMPLE_VOLUME_ID, **more: Any) -> dict[str, Any]:
    return {"volume_id": volume, "new_size_gb": size, "confirm": True, **more}


def sent(emulator: EmulatorServer) -> list[tuple[str, str]]:
    """The mutating requests, in order: ("POST", "snapshot") and ("PUT", "extend")."""
    return [(e.method, e.route) for e in emulator.state.journal if e.method != "GET"]


@pytest.fixture
def slow_snapshots(emulator: EmulatorServer) -> EmulatorServer:
    emulator.state.settings.snapshot_seconds = SNAPSHOT_S
    return emulator


# --- the emulator's snapshot routes --------------------------------------------------------------


async def _post(emulator: EmulatorServer, scp: ScpClient, body: dict[str, Any]) -> httpx.Response:
    return await scp._send("POST", "/v1/snapshots", json=body)  # raw: the client refuses bad names itself


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"name": "bad/name", "volume_id": EXAMPLE_VOLUME_ID, "force": True}, 400, "name"),
        ({"name": "x" * 256, "volume_id": EXAMPLE_VOLUME_ID, "force": True}, 400, "at most 255"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "force": True}, 400, "name is required"),
        ({"name": "ok"}, 400, "volume_id is required"),
        ({"name": "ok", "volume_id": "00000000-0000-4000-8000-000000000000"}, 404, "could not be found"),
        ({"name": "ok", "volume_id": EXAMPLE_VOLUME_ID}, 400, "needs force=true"),
        ({"name": "ok", "volume_id": VOLUMES["busy-extending"]}, 409, "is extending"),
    ],
)
async def test_emulator_validates_snapshot_requests_as_cinder_would(
    emulator: EmulatorServer, scp: ScpClient, body: dict[str, Any], status: int, detail: str
) -> None:
    response = await _post(emulator, scp, body)
    assert response.status_code == status
    assert detail in response.text
    assert emulator.state.snapshots() == [s for s in emulator.state.snapshots() if s["name"] == "volume01-weekly"]


async def test_emulator_snapshot_lifecycle_quota_and_journal(emulator: EmulatorServer, scp: ScpClient) -> None:
    emulator.state.settings.snapshot_seconds = 0.3
    before = (await scp.show_volume_quota_set()).snapshots
    assert before is not None
    assert (before.limit, before.in_use) == (10, 1)
    created = await scp.create_snapshot(VOLUMES["data-available"], "nightly 1", description="test")
    assert (created.status, created.volume_id, created.size, created.name) == (
        "creating",
        VOLUMES["data-available"],
        64,
        "nightly 1",
    )
    assert (await scp.show_snapshot(created.id)).status == "creating"
    await anyio.sleep(0.35)
    assert (await scp.show_snapshot(created.id)).status == "available"
    after = (await scp.show_volume_quota_set()).snapshots
    assert after is not None
    assert after.in_use == 2
    assert [s.id for s in await scp.list_snapshots(VOLUMES["data-available"])] == [created.id]
    assert [s.name for s in await scp.list_snapshots(EXAMPLE_VOLUME_ID)] == ["volume01-weekly"]
    assert await scp.list_snapshots(VOLUMES["data-available"], name="other") == []
    [post] = emulator.state.requests("POST", "snapshot")
    assert (post.body, post.status, post.signature_valid, post.version_header) == (
        {"name": "nightly 1", "volume_id": VOLUMES["data-available"], "force": False, "description": "test"},
        202,
        True,
        "virtualserver 1.3",
    )
    emulator.state.settings.snapshots_limit = 2
    response = await _post(emulator, scp, {"name": "one too many", "volume_id": VOLUMES["data-available"]})
    assert response.status_code == 413


async def test_emulator_snapshot_can_fail_and_unknown_ids_are_404(emulator: EmulatorServer, scp: ScpClient) -> None:
    emulator.state.settings.snapshot_seconds = 0.2
    emulator.state.settings.snapshot_outcome = "error"
    created = await scp.create_snapshot(VOLUMES["data-available"], "doomed")
    await anyio.sleep(0.25)
    assert (await scp.show_snapshot(created.id)).status == "error"
    response = await scp._send("GET", "/v1/snapshots/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404


async def test_the_client_refuses_a_bad_name_before_sending(emulator: EmulatorServer, scp: ScpClient) -> None:
    for name in ("a/b", "", "x" * 256, "line\nbreak"):
        with pytest.raises(ScpInputError):
            await scp.create_snapshot(EXAMPLE_VOLUME_ID, name, force=True)
    assert emulator.state.journal.entries() == []


def test_snapshot_names_say_what_they_are_for_and_follow_the_rule() -> None:
    name = snapshot_name(EXAMPLE_VOLUME_ID, now=1764230400)
    assert re.fullmatch(f"pre-extend {EXAMPLE_VOLUME_ID} 251127080000[0-9a-f]{{4}}", name)
    assert snapshot_name(EXAMPLE_VOLUME_ID, now=1764230400) != name  # two attempts in one second differ
    assert re.fullmatch(SNAPSHOT_NAME_PATTERN, name)
    assert len(name) == 64  # shown whole in sentences (untrusted_text.TEXT_LIMIT)
    assert re.fullmatch(SNAPSHOT_NAME_PATTERN, snapshot_name("../x\n;y"))  # never outside the rule


def test_age_of_platform_times() -> None:
    assert age_s("2025-11-27T08:00:00.000Z", now=1764230400 + 3 * 86400) == 3 * 86400
    assert age_s("2025-11-27T08:00:00", now=1764230460) == 60  # no zone: UTC
    assert age_s("yesterday") is None
    assert age_s(None) is None


# --- plans name the way back -----------------------------------------------------------------------


async def test_plan_names_the_latest_snapshot(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        result = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
    plan = result.structured_content
    assert plan is not None
    latest = plan["latest_snapshot"]
    assert (latest["id"], latest["name"], latest["status"]) == (
        "5d0c1b7e-8f2a-4c3d-9e4f-6a7b8c9d0e11",
        "volume01-weekly",
        "available",
    )
    assert 3 * 86400 - 60 < latest["age_s"] < 3 * 86400 + 600
    assert plan["snapshot_quota"] == {"limit": 10, "in_use": 1, "full": False}
    assert plan["snapshot_policy"] == "optional"
    assert 'latest snapshot is "volume01-weekly" (5d0c1b7e-8f2a-4c3d-9e4f-6a7b8c9d0e11), "available", 3 days old' in (
        text(result)
    )
    assert {e.method for e in emulator.state.journal} == {"GET"}


async def test_plan_says_plainly_when_there_is_no_way_back(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        result = await session.call(
            "plan_volume_extension", {"volume_id": VOLUMES["data-available"], "new_size_gb": 72}
        )
    assert result.structured_content is not None
    assert result.structured_content["latest_snapshot"] is None
    assert "No snapshot of this volume exists: after this extension there will be no way back" in text(result)
    assert "snapshot_first=true" in text(result)


async def test_plan_mentions_a_full_snapshot_quota_and_unreadable_snapshots(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshots_limit = 1
    async with connect(emulator) as session:
        full = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        emulator.state.add_fault(Fault("snapshots", status=500))
        unreadable = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
    assert full.structured_content is not None
    assert full.structured_content["snapshot_quota"] == {"limit": 1, "in_use": 1, "full": True}
    assert "snapshot quota is full (1 of 1)" in text(full)
    assert unreadable.structured_content is not None
    assert unreadable.structured_content["snapshots_readable"] is False
    assert "could not be read" in text(unreadable)
    assert unreadable.structured_content["would_be_accepted"] is True  # the plan itself still stands


@pytest.mark.parametrize("limit", [-1, 0, "", None, "ten"])
async def test_a_snapshot_quota_without_a_stated_limit_is_not_full(emulator: EmulatorServer, limit: Any) -> None:
    emulator.state.settings.snapshots_limit = limit
    async with connect(emulator) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        done = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert plan.structured_content is not None
    assert plan.structured_content["snapshot_quota"] == {"limit": None, "in_use": 1, "full": False}
    assert not done.is_error, text(done)
    assert sent(emulator) == [("POST", "snapshot"), ("PUT", "extend")]


async def test_platform_text_in_a_snapshot_name_stays_bounded(emulator: EmulatorServer, scp: ScpClient) -> None:
    hostile = "evil " * 40
    created = await scp.create_snapshot(VOLUMES["data-available"], hostile.strip())
    async with connect(emulator) as session:  # the helper checks the text has 1 to 3 lines
        result = await session.call(
            "plan_volume_extension", {"volume_id": VOLUMES["data-available"], "new_size_gb": 72}
        )
    assert created.id in text(result)
    assert hostile.strip() not in text(result)  # 64 characters of it in a sentence, quoted
    assert '"evil evil' in text(result)
    assert result.structured_content is not None
    assert result.structured_content["latest_snapshot"]["name"] == hostile.strip()  # within the platform's 255


# --- snapshot first -----------------------------------------------------------------------------------


async def test_snapshot_first_sends_the_resize_only_after_the_snapshot_is_available(
    slow_snapshots: EmulatorServer, tmp_path: Path
) -> None:
    emulator = slow_snapshots
    emulator.state.settings.extend_seconds = 0.3
    log = tmp_path / "audit.jsonl"
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05, audit_log=log)
    async with connect(emulator, settings=settings) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True, wait=True, timeout_s=10))
        progress = [message or "" for _, _, message in session.progress]
        values = [done for done, _, _ in session.progress]
    assert all(later > earlier for earlier, later in pairwise(values)), values  # MCP: rising
    assert any(m.startswith("extending") for m in progress)  # the resize's wait follows the snapshot's
    assert not result.is_error, text(result)
    assert sent(emulator) == [("POST", "snapshot"), ("PUT", "extend")]
    [post] = emulator.state.requests("POST", "snapshot")
    [put] = emulator.state.requests("PUT", "extend")
    assert put.time - post.time >= SNAPSHOT_S  # the resize waited for the snapshot
    polls = [e for e in emulator.state.requests("GET", "snapshot_show") if e.time < put.time]
    assert polls, "the snapshot was read until available"
    [snapshot] = [s for s in emulator.state.snapshots(EXAMPLE_VOLUME_ID) if s["name"] == post.body["name"]]
    assert snapshot["status"] == "available"
    assert post.body["force"] is True  # the volume is attached (in-use)
    assert re.fullmatch(SNAPSHOT_NAME_PATTERN, post.body["name"])
    assert EXAMPLE_VOLUME_ID in post.body["name"]
    out = result.structured_content
    assert out is not None
    assert (out["outcome"], out["snapshot"]["id"], out["snapshot"]["status"]) == (
        "completed",
        snapshot["id"],
        "available",
    )
    assert out["snapshot_required_by_policy"] is False
    assert out["way_back"] == {
        "method": "POST",
        "path": "/v1/volumes",
        "body": {"name": "volume01-restored", "size": 100, "snapshot_id": snapshot["id"], "volume_type": "SSD"},
    }
    assert snapshot["id"] in text(result)
    assert "Way back" in text(result)
    assert any(m.startswith("taking a snapshot") for m in progress)
    assert any('"creating" after' in m for m in progress)
    intent, record = [json.loads(line) for line in log.read_text().splitlines()]
    assert intent["phase"] == "intent"  # on disk before the snapshot, the first change, was requested
    assert (record["phase"], record["outcome"], record["snapshot_id"]) == ("outcome", "completed", snapshot["id"])


async def test_a_detached_volume_is_snapshotted_without_force(slow_snapshots: EmulatorServer) -> None:
    async with connect(slow_snapshots, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(72, VOLUMES["data-available"], snapshot_first=True))
    assert not result.is_error, text(result)
    [post] = slow_snapshots.state.requests("POST", "snapshot")
    assert post.body["force"] is False
    assert sent(slow_snapshots) == [("POST", "snapshot"), ("PUT", "extend")]


async def test_without_snapshot_first_no_snapshot_is_taken(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args())
    assert result.structured_content is not None
    assert (result.structured_content["snapshot"], result.structured_content["way_back"]) == (None, None)
    assert sent(emulator) == [("PUT", "extend")]


async def test_a_snapshot_that_errors_sends_no_resize(slow_snapshots: EmulatorServer, tmp_path: Path) -> None:
    slow_snapshots.state.settings.snapshot_outcome = "error"
    log = tmp_path / "audit.jsonl"
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05, audit_log=log)
    async with connect(slow_snapshots, settings=settings) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    [snapshot] = [s for s in slow_snapshots.state.snapshots(EXAMPLE_VOLUME_ID) if s["status"] == "error"]
    assert snapshot["id"] in text(result)
    assert 'went to "error"' in text(result)
    assert "Nothing was resized" in text(result)
    assert sent(slow_snapshots) == [("POST", "snapshot")]
    _, record = [json.loads(line) for line in log.read_text().splitlines()]
    assert (record["outcome"], record["snapshot_id"], record["http_status"]) == ("refused", snapshot["id"], None)


async def test_a_snapshot_that_does_not_become_available_in_time_sends_no_resize(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshot_seconds = 30
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True, timeout_s=0.6))
    assert result.is_error
    assert 'is still "creating" after 0.6 s' in text(result)
    [snapshot] = [s for s in emulator.state.snapshots(EXAMPLE_VOLUME_ID) if s["status"] == "creating"]
    assert snapshot["id"] in text(result)
    assert sent(emulator) == [("POST", "snapshot")]


async def test_a_dropped_snapshot_request_that_was_applied_is_found_not_resent(slow_snapshots: EmulatorServer) -> None:
    slow_snapshots.state.add_fault(Fault("snapshot", drop=True))
    async with connect(slow_snapshots, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert not result.is_error, text(result)
    assert sent(slow_snapshots) == [("POST", "snapshot"), ("PUT", "extend")]  # one POST: found by its name
    [post] = slow_snapshots.state.requests("POST", "snapshot")
    [listing] = [r for r in slow_snapshots.state.requests("GET", "snapshots") if "name" in httpx.QueryParams(r.query)]
    assert post.body["name"] in httpx.QueryParams(listing.query)["name"]
    assert result.structured_content is not None
    assert result.structured_content["snapshot"]["name"] == post.body["name"]
    assert len(slow_snapshots.state.snapshots(EXAMPLE_VOLUME_ID)) == 2  # the weekly one and ours


async def test_a_dropped_snapshot_request_that_was_not_applied_sends_nothing_more(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("snapshot", drop=True, apply=False))
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    [post] = emulator.state.requests("POST", "snapshot")
    assert "no snapshot named" in text(result)
    assert post.body["name"] in text(result)
    assert sent(emulator) == [("POST", "snapshot")]


async def test_an_unreadable_read_back_says_the_snapshot_is_unknown(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("snapshot", drop=True))
    emulator.state.add_fault(Fault("snapshots", status=500, count=10))
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    assert "is unknown" in text(result)
    assert "Nothing was resized" in text(result)
    assert sent(emulator) == [("POST", "snapshot")]


async def test_a_409_from_the_platform_sends_no_resize(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("snapshot", status=409))
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    assert "The snapshot before the extension was refused" in text(result)
    assert "409" in text(result)
    assert sent(emulator) == [("POST", "snapshot")]


async def test_a_full_snapshot_quota_sends_nothing(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshots_limit = 1  # the weekly snapshot fills it
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    assert "snapshot quota is full (1 of 1)" in text(result)
    assert sent(emulator) == []


async def test_a_full_quota_the_client_could_not_read_is_refused_by_the_platform(emulator: EmulatorServer) -> None:
    emulator.state.settings.snapshots_limit = 1
    emulator.state.add_fault(Fault("quota", status=500, count=10))
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    assert "413" in text(result)
    assert "Nothing was resized" in text(result)
    assert sent(emulator) == [("POST", "snapshot")]


async def test_a_resize_refused_after_the_snapshot_names_the_way_back(slow_snapshots: EmulatorServer) -> None:
    slow_snapshots.state.add_fault(Fault("extend", status=409))
    async with connect(slow_snapshots, settings=FLAG) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=True))
    assert result.is_error
    [snapshot] = [s for s in slow_snapshots.state.snapshots(EXAMPLE_VOLUME_ID) if s["name"].startswith("pre-")]
    assert f'Snapshot "{snapshot["name"]}" ({snapshot["id"]}) was taken before it' in text(result)
    assert sent(slow_snapshots) == [("POST", "snapshot"), ("PUT", "extend")]


async def test_two_concurrent_snapshot_first_calls_take_one_snapshot_and_send_one_resize(
    slow_snapshots: EmulatorServer,
) -> None:
    slow_snapshots.state.settings.extend_seconds = 2
    results: list[Any] = []
    async with connect(slow_snapshots, settings=FLAG) as session:

        async def extend() -> None:
            results.append(await session.call("extend_volume", extend_args(snapshot_first=True)))

        async with anyio.create_task_group() as group:
            group.start_soon(extend)
            group.start_soon(extend)
    assert sent(slow_snapshots) == [("POST", "snapshot"), ("PUT", "extend")]
    assert not any(r.is_error for r in results), [text(r) for r in results]
    outcomes = sorted(r.structured_content["outcome"] for r in results)
    assert outcomes == ["accepted", "under_way"], outcomes  # the same size again: said, nothing more sent


# --- the policy ----------------------------------------------------------------------------------------


async def test_required_policy_snapshots_even_when_the_argument_says_no(slow_snapshots: EmulatorServer) -> None:
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05, snapshot_policy="required")
    async with connect(slow_snapshots, settings=settings) as session:
        result = await session.call("extend_volume", extend_args(snapshot_first=False))
        plan = await session.call("plan_volume_extension", {"volume_id": VOLUMES["archive"], "new_size_gb": 1008})
    assert not result.is_error, text(result)
    assert sent(slow_snapshots) == [("POST", "snapshot"), ("PUT", "extend")]
    assert result.structured_content is not None
    assert result.structured_content["snapshot_required_by_policy"] is True
    assert "SCP_SNAPSHOT_POLICY=required" in text(result)
    assert plan.structured_content is not None
    assert plan.structured_content["snapshot_policy"] == "required"
    assert "takes a snapshot first" in text(plan)


async def test_off_policy_does_not_offer_the_argument(emulator: EmulatorServer) -> None:
    settings = ServerSettings(confirmation="flag", snapshot_policy="off")
    async with connect(emulator, settings=settings) as session:
        schema = session.tools["extend_volume"].input_schema
        result = await session.call("extend_volume", extend_args())
    assert "snapshot_first" not in schema["properties"]
    assert not result.is_error, text(result)
    assert sent(emulator) == [("PUT", "extend")]


async def test_optional_policy_offers_the_argument_defaulting_to_false(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        prop = session.tools["extend_volume"].input_schema["properties"]["snapshot_first"]
    assert (prop["type"], prop["default"]) == ("boolean", False)
    assert "nothing is resized" in prop["description"]


def test_policy_from_the_environment() -> None:
    assert ServerSettings.from_env({}).snapshot_policy == "optional"
    assert ServerSettings.from_env({"SCP_SNAPSHOT_POLICY": " Required "}).snapshot_policy == "required"
    assert ServerSettings.from_env({"SCP_SNAPSHOT_POLICY": "off"}).snapshot_policy == "off"
    with pytest.raises(SettingsError, match="SCP_SNAPSHOT_POLICY must be one of optional, required, off"):
        ServerSettings.from_env({"SCP_SNAPSHOT_POLICY": "always"})


# --- the confirmation question names the way back ------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "size", "snapshot_first", "sentence"),
    [
        (EXAMPLE_VOLUME_ID, 104, True, "A snapshot will be taken first."),
        (EXAMPLE_VOLUME_ID, 104, False, "The latest snapshot is 3 days old."),
        (VOLUMES["data-available"], 72, False, "No snapshot exists: there will be no way back, unless you choose"),
    ],
)
async def test_the_question_says_which_way_back_there_will_be(
    slow_snapshots: EmulatorServer, volume: str, size: int, snapshot_first: bool, sentence: str
) -> None:
    asked: list[str] = []
    async with connect(slow_snapshots, elicitation=answer("accept", asked=asked)) as session:
        result = await session.call("extend_volume", extend_args(size, volume, snapshot_first=snapshot_first))
    assert not result.is_error, text(result)
    [question] = asked
    assert sentence in question
    assert question.index(sentence) < question.index("The platform describes it as")  # facts first

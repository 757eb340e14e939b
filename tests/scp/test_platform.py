"""Behaving like Samsung's own tools against the real SCP: quota meaning, states, error bodies, version
drift and the largest volume. Every test runs against the emulator (or the platform's recorded shapes)."""

from __future__ import annotations

import re
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from scp_volume_mcp.emulator import EmulatorServer, EmulatorSettings, EmulatorState
from scp_volume_mcp.emulator._state import LIMIT_MISSING
from scp_volume_mcp.scp import (
    API_VERSIONS,
    EXAMPLE_VOLUME_ID,
    FAILED_STATES,
    KNOWN_STATES,
    ScpBadRequest,
    ScpClient,
    ScpConfig,
    ScpVersionRejected,
    check_api_version,
    classify_state,
)
from scp_volume_mcp.scp._errors import error_from_response
from scp_volume_mcp.scp._models import stated_limit
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, connect, text

pytestmark = pytest.mark.anyio

AVAILABLE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"  # data-available, 64 GB
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)
CONFIGURATION = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
DATA = Path(__file__).resolve().parents[1] / "data"


def _extend(volume_id: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"volume_id": volume_id, "new_size_gb": size, "confirm": True, **extra}


# --- Quota meaning --------------------------------------------------------------------------------

UNSTATED = [-1, 0, "", None, LIMIT_MISSING, "unlimited", True, 12.5]


@pytest.mark.parametrize("limit", UNSTATED)
async def test_a_limit_that_is_not_a_positive_integer_states_none(emulator: EmulatorServer, limit: Any) -> None:
    emulator.state.settings.per_volume_limit_gb = limit
    async with connect(emulator, settings=FLAG) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 2048})
        assert not plan.is_error, text(plan)
        assert plan.structured_content is not None
        assert plan.structured_content["would_be_accepted"] is True
        assert plan.structured_content["per_volume_quota_gb"] is None
        assert "states no per-volume size limit" in text(plan)
        assert "the platform decides" in text(plan)
        done = await session.call("extend_volume", _extend(AVAILABLE, 2048, wait=True))
    assert not done.is_error, text(done)
    assert emulator.state.get(AVAILABLE)["size"] == 2048  # type: ignore[index]


async def test_with_no_stated_limit_the_platform_decides(emulator: EmulatorServer) -> None:
    emulator.state.settings.per_volume_limit_gb = -1  # Cinder's "unlimited"; the platform's own maximum stays
    emulator.state.settings.max_volume_size_gb = 4096  # below the schema's maximum (12288), so SCP decides
    async with connect(emulator, settings=FLAG) as session:
        done = await session.call("extend_volume", _extend(AVAILABLE, 4104))
    assert done.is_error
    assert "at most 4096 GB" in text(done)  # the platform's refusal, not ours
    assert len(emulator.state.requests("PUT")) == 1


async def test_a_stated_limit_is_still_enforced_locally(emulator: EmulatorServer) -> None:
    emulator.state.settings.per_volume_limit_gb = "1024"  # a positive integer in text is still a limit
    async with connect(emulator, settings=FLAG) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 1032})
    assert "exceeds the per-volume quota of 1024 GB" in text(plan)


@pytest.mark.parametrize(
    ("value", "expected"), [(12288, 12288), ("12288", 12288), (-1, None), (0, None), ("", None), (None, None),
                            ("-1", None), ("lots", None), (False, None), (1.0, 1), ([5], None)]
)  # fmt: skip
def test_stated_limit(value: object, expected: int | None) -> None:
    assert stated_limit(value) == expected


async def test_quota_unreadable_is_said_as_such(emulator: EmulatorServer) -> None:
    from scp_volume_mcp.emulator import Fault

    emulator.state.add_fault(Fault("quota", status=403, count=10))
    async with connect(emulator) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 72})
    assert "per-volume quota could not be read" in text(plan)


# --- Volume states --------------------------------------------------------------------------------


def test_every_state_in_the_facts_is_classified() -> None:
    lines = (DATA / "scp-volume-states.txt").read_text().splitlines()
    named = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert len(named) >= 20  # the whole list was read
    assert named <= set(KNOWN_STATES)
    assert all(classify_state(state) != "unknown" for state in KNOWN_STATES)
    assert {s for s in KNOWN_STATES if classify_state(s) == "failed"} == {
        s for s in KNOWN_STATES if s.startswith("error")
    }


@pytest.mark.parametrize(
    ("state", "kind"),
    [("Backing Up", "busy"), ("backing_up", "busy"), ("BACKING-UP", "busy"), ("Error Restoring", "failed"),
     ("error_extending", "failed"), ("ERROR-EXTENDING", "failed"), ("error_something_new", "failed"),
     ("In Use", "extendable"), ("in_use", "extendable"), ("Available", "extendable"), ("EXTENDING", "extending"),
     ("Awaiting Transfer", "busy"), ("errored", "unknown"), ("", "unknown")],
)  # fmt: skip
def test_states_are_compared_whatever_their_spelling(state: str, kind: str) -> None:
    assert classify_state(state) == kind


@pytest.mark.slow
def test_long_hostile_states_are_compared_and_not_kept() -> None:
    """300 distinct 100 KB states (a hostile platform, or a caller's filter) compare like short ones and leave
    nothing alive once compared."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(300):
            assert classify_state(f"Error {n}{' ' * 100_000}Extending") == "failed"
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1_000_000, f"{after - before} bytes kept by comparing states"


async def test_list_volumes_refuses_a_state_filter_longer_than_any_state(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        refused = await session.call("list_volumes", {"state": "in-use" + " " * 100_000})
        listed = await session.call("list_volumes", {"state": "in-use" + " " * 58})
    assert refused.is_error
    assert "at most 64 characters" in text(refused)
    assert not listed.is_error, text(listed)


def _put(emulator: EmulatorServer, state: str, size: int = 64) -> None:
    volume = emulator.state.get(AVAILABLE)
    assert volume is not None
    emulator.state.put({**volume, "state": state, "size": size})


@pytest.mark.parametrize("state", ["Backing Up", "error_backing-up", "Restoring Backup", "Maintenance"])
async def test_busy_and_failed_states_are_refused_as_spelled(emulator: EmulatorServer, state: str) -> None:
    _put(emulator, state)
    async with connect(emulator) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 72})
    assert plan.structured_content is not None
    assert plan.structured_content["would_be_accepted"] is False
    assert f'the volume is "{state}"' in text(plan)  # quoted, as the platform spelled it


async def test_extending_in_capitals_is_an_extension_in_progress(emulator: EmulatorServer) -> None:
    _put(emulator, "EXTENDING")
    async with connect(emulator) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 72})
    assert "already in progress" in text(plan)


async def test_in_use_spelled_in_words_can_be_extended(emulator: EmulatorServer) -> None:
    _put(emulator, "In Use")
    async with connect(emulator, settings=FLAG) as session:
        done = await session.call("extend_volume", _extend(AVAILABLE, 72, wait=True))
    assert not done.is_error, text(done)
    assert "Extended" in text(done)
    assert "it is In Use" in text(done)


@pytest.mark.parametrize("ends_in", ["Error Extending", "ERROR_EXTENDING", "error_managing"])
async def test_every_error_state_after_an_extension_is_a_failure(emulator: EmulatorServer, ends_in: str) -> None:
    assert ends_in in FAILED_STATES
    emulator.state.settings.extension_ends_in = ends_in
    async with connect(emulator, settings=FLAG) as session:
        done = await session.call("extend_volume", _extend(AVAILABLE, 72, wait=True, timeout_s=5))
    assert done.is_error
    assert f"failed: the volume is {ends_in} at 64 GB" in text(done)


# --- Error bodies -----------------------------------------------------------------------------------

RECORDED_400 = {
    "errors": [
        {
            "code": "ValidationError",
            "detail": ["size: Input should be a valid integer", {"loc": ["body", "size"], "msg": "too small"}],
            "global_request_id": "req-global-1",
            "links": [],
            "related_resources": [],
            "request_id": "req-1",
            "response": None,
            "status": 400,
            "title": "ValidationError",
        }
    ]
}


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("GET", "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/volumes")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_the_recorded_platform_shape_is_read() -> None:
    error = error_from_response(_response(400, RECORDED_400))
    assert isinstance(error, ScpBadRequest)
    assert error.detail == "size: Input should be a valid integer; body.size: too small"
    assert (error.code, error.request_id) == ("ValidationError", "req-1")
    only_global = {"errors": [{**RECORDED_400["errors"][0], "request_id": None}]}
    assert error_from_response(_response(400, only_global)).request_id == "req-global-1"
    text_detail = {"errors": [{"code": "Conflict", "title": "Conflict", "detail": "Volume is busy", "status": 409}]}
    assert error_from_response(_response(409, text_detail)).detail == "Volume is busy"
    title_only = {"errors": [{"code": "Forbidden", "title": "Access denied", "status": 403}]}
    assert error_from_response(_response(403, title_only)).detail == "Access denied"


def test_the_other_scp_shape_is_read() -> None:
    body = {"timestamp": "2026-01-01T00:00:00Z", "path": "/v1/volumes", "error": "Bad Request", "requestId": "r-9"}
    error = error_from_response(_response(400, body))
    assert (error.detail, error.request_id, error.code) == ("Bad Request", "r-9", "Bad Request")
    with_message = {**body, "message": "size must grow"}
    assert error_from_response(_response(400, with_message)).detail == "size must grow"


def test_error_bodies_are_bounded() -> None:
    body = {"errors": [{"detail": "x" * 5000, "request_id": "r" * 5000}]}
    error = error_from_response(_response(400, body))
    assert len(error.detail) <= 500
    assert error.request_id is not None
    assert len(error.request_id) <= 128


async def test_the_emulator_answers_in_the_recorded_shape(emulator: EmulatorServer, scp: ScpClient) -> None:
    with pytest.raises(ScpBadRequest) as caught:
        await scp.resize_volume(EXAMPLE_VOLUME_ID, 96)
    [entry] = emulator.state.requests("PUT")
    assert caught.value.request_id == entry.request_id
    assert entry.request_id.startswith("req-")
    assert caught.value.code == "BAD_REQUEST"
    async with httpx.AsyncClient(base_url=emulator.url) as raw:
        body = (await raw.get("/v1/volumes")).json()  # unsigned: 401
    assert set(body["errors"][0]) >= {"code", "title", "detail", "status", "request_id", "global_request_id"}


# --- Version drift ----------------------------------------------------------------------------------


async def test_a_retired_version_names_scp_api_version(emulator: EmulatorServer) -> None:
    emulator.state.settings.accepted_versions = frozenset({"1.4", "1.5"})  # 1.3 retired on the platform
    async with connect(emulator) as session:
        result = await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert result.is_error
    message = text(result)
    assert "SCP_API_VERSION=1.3" in message
    assert "knows versions 1.3, 1.2, 1.1, 1.0" in message
    assert "406" in message
    assert "no such version" in message
    assert len(emulator.state.requests("GET", "show")) == 1  # not retried


@pytest.mark.parametrize(
    ("status", "body", "rejected"),
    [
        (406, {"errors": [{"code": "NoSuchVersion", "detail": "no such version"}]}, True),
        (400, {"errors": [{"code": "BadRequest", "detail": "Unsupported API version virtualserver 1.3"}]}, True),
        (400, {"errors": [{"code": "BadRequest", "detail": "Size must grow: 1.3 is too small"}]}, False),
        (400, {"errors": [{"code": "BadRequest", "detail": "Unsupported API version 1.5"}]}, False),
        (409, {"errors": [{"code": "NoSuchVersion", "detail": "?"}]}, False),
    ],
)
def test_which_refusals_are_about_the_version(status: int, body: Any, rejected: bool) -> None:
    error = error_from_response(_response(status, body), api_version="1.3", known="1.3, 1.2")
    assert isinstance(error, ScpVersionRejected) is rejected
    if rejected:
        assert "SCP_API_VERSION=1.3" in str(error)
        assert "1.3, 1.2" in str(error)


async def test_a_newer_version_is_used_with_a_warning(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    status = check_api_version("1.5", date(2026, 11, 27))
    assert status.state == "UNVERIFIED"
    assert status.header == "virtualserver 1.5"
    assert status.warning is not None
    assert "not verified here" in status.warning
    emulator.state.settings.accepted_versions = frozenset({"1.5"})
    with caplog.at_level("WARNING", logger="scp_volume_mcp.scp"):
        async with ScpClient(client_factory(emulator, api_version="1.5")().config) as scp:
            volume = await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert volume.size == 100
    assert emulator.state.journal[-1].version_header == "virtualserver 1.5"
    assert "newer than the versions this server knows" in caplog.text


def test_the_docs_version_table_is_the_code_table() -> None:
    rows = re.findall(r"^\| (\d+\.\d+) \| (\w+) \| (\S+) \|", CONFIGURATION, flags=re.MULTILINE)
    table = {v: (s.upper(), None if d == "-" else date.fromisoformat(d)) for v, s, d in rows}
    assert table == API_VERSIONS


# --- The largest volume -------------------------------------------------------------------------------


async def test_the_emulator_defaults_to_virtual_server_data_volumes(emulator: EmulatorServer, scp: ScpClient) -> None:
    settings = EmulatorSettings()
    assert settings.max_volume_size_gb == 12288
    assert settings.per_volume_limit_gb == 12288
    quota = await scp.show_volume_quota_set()
    assert quota.per_volume_size is not None
    assert quota.per_volume_size.stated_limit == 12288
    accepted = await scp.resize_volume(AVAILABLE, 12288)
    assert accepted.volume.size == 12288


async def test_the_largest_volume_is_configurable(scp_config: ScpConfig) -> None:
    state = EmulatorState(settings=EmulatorSettings(per_volume_limit_gb=-1, max_volume_size_gb=16384))
    with EmulatorServer(state) as other:
        config = ScpConfig(**{**scp_config.__dict__, "endpoint": other.url})
        async with ScpClient(config) as scp:
            assert (await scp.resize_volume(AVAILABLE, 16384)).volume.size == 16384


async def test_the_tool_schema_has_the_platforms_maximum(emulator: EmulatorServer) -> None:
    server = build_server(ServerSettings(), client_factory(emulator))
    async with connect(emulator) as session:
        del server
        for tool in ("plan_volume_extension", "extend_volume"):
            size = session.tools[tool].input_schema["properties"]["new_size_gb"]
            assert size["maximum"] == EmulatorSettings().max_volume_size_gb == 12288

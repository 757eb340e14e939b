"""The fault matrix: every injected fault on every route, through extend_volume, judged by the journal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp.emulator import EMULATOR_SECRET_KEY, EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import Client, client_factory, text

pytestmark = pytest.mark.anyio
TIMEOUT_S = 0.5
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after": 0},
    "500": {"status": 500},
    "503": {"status": 503},
    "409": {"status": 409},
    "401": {"status": 401},
    "slow": {"latency_s": TIMEOUT_S * 3},
    "drop": {"drop": True},
    "malformed": {"malformed": True},
    "not-a-volume": {"body": {"unexpected": "shape"}},
}
# The `slow` fault waits out the client's timeout (and its retries): a slow test on every route.
FAULT_PARAMS = [pytest.param(name, marks=pytest.mark.slow) if name == "slow" else name for name in FAULTS]
# route -> fault -> (expected PUTs, is the call an error, text the result must contain)
EXPECTED: dict[str, dict[str, tuple[int, bool, str]]] = {
    # Reads of the volume: throttling, gateway errors and transport failures are retried.
    "show": {
        "429": (1, False, "Extended"),
        "500": (0, True, "SCP answered 500"),
        "503": (1, False, "Extended"),
        "409": (0, True, "SCP refused the change (409"),
        "401": (0, True, "SCP refused the credentials (401"),
        "slow": (1, False, "Extended"),
        "drop": (1, False, "Extended"),
        "malformed": (0, True, "not JSON"),
        "not-a-volume": (0, True, "not a VolumeShowResponseV1Dot2"),
    },
    # The quota is advisory: when it cannot be read, the platform enforces it.
    "quota": {name: (1, False, "Extended") for name in FAULTS},
    # The resize itself: never retried blindly.
    "extend": {
        "429": (1, True, "SCP answered 429"),
        "500": (1, True, "SCP answered 500"),
        "503": (1, True, "SCP answered 503"),
        "409": (1, True, "busy or in a state that forbids it"),
        "401": (1, True, "Check SCP_ACCESS_KEY and SCP_SECRET_KEY"),
        "slow": (1, True, "nothing was sent again"),
        "drop": (1, False, "Extended"),  # applied behind the drop: the read-back shows it
        "malformed": (1, False, "Extended"),
        "not-a-volume": (1, False, "Extended"),
    },
}


def _server(emulator: EmulatorServer, settings: ServerSettings | None = None) -> Any:
    from scp_volume_mcp.server import build_server

    return build_server(settings or ServerSettings(confirmation="flag"), client_factory(emulator, timeout_s=TIMEOUT_S))


async def _extend(emulator: EmulatorServer, size: int = 104) -> Any:
    async with Client(_server(emulator)) as client:
        return await client.call_tool(
            "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": size, "confirm": True}
        )


@pytest.mark.parametrize("fault", FAULT_PARAMS)
@pytest.mark.parametrize("route", list(EXPECTED))
async def test_fault_matrix(emulator: EmulatorServer, route: str, fault: str) -> None:
    puts, is_error, message = EXPECTED[route][fault]
    emulator.state.add_fault(Fault(route, **FAULTS[fault]))  # type: ignore[arg-type]
    result = await _extend(emulator)
    body = text(result)
    assert result.is_error is is_error, body
    assert message in body
    assert "Traceback" not in body
    assert body != "Error executing tool extend_volume"  # an unexpected exception's bare message
    assert EMULATOR_SECRET_KEY not in body + str(result.structured_content)
    assert emulator.state.journal.wait_idle()  # a slow fault finishes after the tool has answered
    assert len(emulator.state.requests("PUT")) == puts
    if (route, fault) == ("extend", "slow"):
        # The late request did land: re-sending after the timeout would have been wrong.
        assert emulator.state.get(EXAMPLE_VOLUME_ID)["size"] == 104  # type: ignore[index]


async def test_a_drop_without_effect_is_not_sent_again_on_a_guess(emulator: EmulatorServer, tmp_path: Path) -> None:
    """A read of the old size after a lost answer proves nothing (an attached volume stays in-use at its old size
    while it grows): the fate is reported unknown, nothing is sent again, and the volume stays blocked."""
    emulator.state.add_fault(Fault("extend", drop=True, apply=False))
    trail = ServerSettings(confirmation="flag", audit_log=tmp_path / "audit.jsonl")
    arguments = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}
    async with Client(_server(emulator, trail)) as client:
        result = await client.call_tool("extend_volume", {**arguments, "new_size_gb": 104})
    assert result.is_error
    assert "nothing was sent again" in text(result)
    assert "audit --close" in text(result)
    async with Client(_server(emulator, trail)) as client:  # a restarted server, on the same trail
        again = await client.call_tool("extend_volume", {**arguments, "new_size_gb": 112})
    assert again.is_error
    assert "already in progress or its fate is unknown" in text(again)
    assert len(emulator.state.requests("PUT")) == 1
    assert emulator.state.get(EXAMPLE_VOLUME_ID)["size"] == 100  # type: ignore[index]


async def test_drop_while_extending_reports_in_progress(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 5
    emulator.state.add_fault(Fault("extend", drop=True))
    result = await _extend(emulator)
    assert result.structured_content is not None
    assert (result.structured_content["outcome"], result.structured_content["state"]) == ("accepted", "extending")
    assert "in progress" in result.structured_content["note"]
    assert len(emulator.state.requests("PUT")) == 1


async def test_ambiguous_failure_with_unreadable_volume_says_unknown(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("extend", drop=True, apply=False))
    emulator.state.add_fault(Fault("show", status=500, skip=1))  # the guard's read passes, the read-back fails
    result = await _extend(emulator)
    assert result.is_error
    assert "whether the resize to 104 GB was applied is unknown" in text(result)
    assert "get_volume" in text(result)
    assert len(emulator.state.requests("PUT")) == 1


async def test_a_401_names_the_clock_when_it_is_off(emulator: EmulatorServer) -> None:
    emulator.state.settings.clock_offset_s = -600  # SCP's clock runs ten minutes behind ours
    emulator.state.add_fault(Fault("extend", status=401))
    result = await _extend(emulator)
    assert result.is_error
    assert re.search(r"clock is (599|600|601) s ahead of SCP's", text(result)), text(result)


async def test_a_stale_timestamp_is_refused_and_explained(emulator: EmulatorServer) -> None:
    emulator.state.settings.clock_offset_s = 3600
    result = await _extend(emulator)
    assert result.is_error
    assert "SCP refused the credentials" in text(result)
    assert re.search(r"clock is 3[56]\d\d s behind SCP's", text(result)), text(result)
    assert emulator.state.requests("PUT") == []


async def test_reads_during_wait_that_fail_leave_an_accepted_result(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 5
    emulator.state.add_fault(Fault("show", status=500, skip=1))  # the guard's read passes, polling fails
    async with Client(_server(emulator, ServerSettings(confirmation="flag", poll_interval_s=0.05))) as client:
        result = await client.call_tool(
            "extend_volume",
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "wait": True, "timeout_s": 5},
        )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "accepted"
    assert "reading the volume while waiting failed" in result.structured_content["note"]
    assert len(emulator.state.requests("PUT")) == 1


LIST_EXPECTED = {"429": False, "500": True, "503": False, "409": True, "401": True, "slow": False, "drop": False,
                 "malformed": True, "not-a-volume": True}  # fmt: skip


@pytest.mark.parametrize("fault", FAULT_PARAMS)
async def test_fault_matrix_for_listing(emulator: EmulatorServer, fault: str) -> None:
    emulator.state.add_fault(Fault("list", **FAULTS[fault]))
    async with Client(_server(emulator)) as client:
        result = await client.call_tool("list_volumes", {})
    body = text(result)
    assert result.is_error is LIST_EXPECTED[fault], body
    assert body != "Error executing tool list_volumes"
    assert "Traceback" not in body
    if not result.is_error:
        assert result.structured_content is not None
        assert result.structured_content["returned"] == 7


# --- the snapshot routes: a snapshot-first extension under every fault ---------------------------------

REFUSED = "The snapshot before the extension was refused"
# route -> fault -> (expected POSTs of a snapshot, expected PUTs, is the call an error, text it must contain)
SNAPSHOT_EXPECTED: dict[str, dict[str, tuple[int, int, bool, str]]] = {
    # The create: never retried; an ambiguous failure is resolved by looking for the snapshot by its name.
    "snapshot": {
        "429": (1, 0, True, REFUSED),
        "500": (1, 0, True, "no snapshot named"),  # read back: not created
        "503": (1, 0, True, "no snapshot named"),
        "409": (1, 0, True, "busy or in a state that forbids it"),
        "401": (1, 0, True, "Check SCP_ACCESS_KEY and SCP_SECRET_KEY"),
        "slow": (1, 0, True, "no snapshot named"),  # not there yet when read back: nothing resized, nothing resent
        "drop": (1, 1, False, "Extended"),  # created behind the drop: found by its name
        "malformed": (1, 1, False, "Extended"),
        "not-a-volume": (1, 1, False, "Extended"),
    },
    # The reads while waiting for `available`: retried like every read; a failed one resizes nothing.
    "snapshot_show": {
        "429": (1, 1, False, "Extended"),
        "500": (1, 0, True, "while waiting for it failed"),
        "503": (1, 1, False, "Extended"),
        "409": (1, 0, True, "while waiting for it failed"),
        "401": (1, 0, True, "while waiting for it failed"),
        "slow": (1, 1, False, "Extended"),
        "drop": (1, 1, False, "Extended"),
        "malformed": (1, 0, True, "not JSON"),
        "not-a-volume": (1, 0, True, "not a Snapshot"),
    },
}


@pytest.mark.parametrize("fault", FAULT_PARAMS)
@pytest.mark.parametrize("route", list(SNAPSHOT_EXPECTED))
async def test_fault_matrix_for_snapshot_first(emulator: EmulatorServer, route: str, fault: str) -> None:
    posts, puts, is_error, message = SNAPSHOT_EXPECTED[route][fault]
    emulator.state.add_fault(Fault(route, **FAULTS[fault]))  # type: ignore[arg-type]
    async with Client(_server(emulator, ServerSettings(confirmation="flag", poll_interval_s=0.05))) as client:
        result = await client.call_tool(
            "extend_volume",
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "snapshot_first": True},
        )
    body = text(result)
    assert result.is_error is is_error, body
    assert message in body
    assert "Traceback" not in body
    assert EMULATOR_SECRET_KEY not in body + str(result.structured_content)
    assert emulator.state.journal.wait_idle()
    assert len(emulator.state.requests("POST", "snapshot")) == posts
    assert len(emulator.state.requests("PUT")) == puts
    journal = [(e.method, e.route) for e in emulator.state.journal if e.method != "GET"]
    assert journal == [("POST", "snapshot")] + [("PUT", "extend")] * puts  # never a resize before the snapshot
    if is_error:
        assert "Nothing was resized" in body

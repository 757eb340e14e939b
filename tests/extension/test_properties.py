"""Arbitrary arguments to every tool: never an unhandled exception, never a PUT unless every guard passes."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer, default_volumes
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, text

SEEDED = {v["id"]: v for v in default_volumes()}
EXTENDABLE = {i: v for i, v in SEEDED.items() if v["state"] in ("available", "in-use")}
IDS = list(SEEDED)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
VOLUME_IDS = st.sampled_from(IDS) | st.sampled_from([i.upper() for i in IDS]) | st.text(max_size=60) | JSON
SIZES = (
    st.integers(min_value=1, max_value=2100).map(lambda n: n * 8)
    | st.integers(min_value=-100, max_value=20000)
    | st.sampled_from([104, 112, 72, 208, 1008, 12288, 12296])
    | JSON
)
CONFIRMS = st.just(True) | JSON
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OFFERED = {"volume_id", "new_size_gb", "confirm", "wait", "timeout_s", "snapshot_first"}


def should_send(arguments: dict[str, Any]) -> bool:
    """The oracle: a PUT is due only when every documented rule holds."""
    volume_id = arguments.get("volume_id")
    # A volume id is one key whatever its case (the tools lower-case it before anything is read or locked).
    volume = EXTENDABLE.get(volume_id.lower()) if isinstance(volume_id, str) else None
    size = arguments.get("new_size_gb")
    if volume is None or type(size) is not int or arguments.get("confirm") is not True:
        return False
    if not (size >= 16 and size % 8 == 0 and volume["size"] < size <= 12288):
        return False
    if set(arguments) - OFFERED:  # an argument the schema does not offer is refused, not dropped
        return False
    if "wait" in arguments and type(arguments["wait"]) is not bool:  # a JSON boolean, not "yes" or 1
        return False
    if "timeout_s" in arguments:
        timeout = arguments["timeout_s"]
        if type(timeout) not in (int, float) or not 0 < timeout <= 3600:  # a JSON number, not "5"
            return False
    return True


def _call(emulator: EmulatorServer, tool: str, arguments: dict[str, Any]) -> Any:
    emulator.state.reset()
    server = build_server(ServerSettings(confirmation="flag", poll_interval_s=0.05), client_factory(emulator))

    async def run() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(run)


def _assert_handled(result: Any, tool: str) -> None:
    body = text(result)
    assert body != f"Error executing tool {tool}", "an unexpected exception escaped"
    assert "Traceback" not in body


ARBITRARY_CALLS = st.fixed_dictionaries(
    {},
    optional={
        "volume_id": VOLUME_IDS,
        "new_size_gb": SIZES,
        "confirm": CONFIRMS,
        "wait": st.booleans() | JSON,
        "timeout_s": st.floats(min_value=-1, max_value=5000, allow_nan=False) | JSON,
        "junk": JSON,
    },
)


@st.composite
def nearly_valid_calls(draw: st.DrawFn) -> dict[str, Any]:
    """A valid call to an extendable volume, with at most one field replaced by anything at all."""
    volume_id = draw(st.sampled_from(list(EXTENDABLE)))
    size = draw(st.integers(min_value=EXTENDABLE[volume_id]["size"] // 8 + 1, max_value=2048).map(lambda n: n * 8))
    arguments: dict[str, Any] = {"volume_id": volume_id, "new_size_gb": size, "confirm": True}
    broken = draw(st.sampled_from([None, "volume_id", "new_size_gb", "confirm", "wait", "timeout_s"]))
    if broken is not None:
        arguments[broken] = draw(VOLUME_IDS | SIZES | CONFIRMS)
    return arguments


@pytest.mark.slow
@SETTINGS
@given(arguments=ARBITRARY_CALLS | nearly_valid_calls())
def test_extend_volume_sends_only_when_every_guard_passes(emulator: EmulatorServer, arguments: dict[str, Any]) -> None:
    if arguments.get("wait") is True:
        arguments["timeout_s"] = 2  # a waiting call must end quickly even if it sends
    result = _call(emulator, "extend_volume", arguments)
    _assert_handled(result, "extend_volume")
    expected = should_send(arguments)
    event("sends a PUT" if expected else "sends nothing")
    assert len(emulator.state.requests("PUT")) == (1 if expected else 0), (arguments, text(result))
    assert result.is_error is not expected or result.structured_content["outcome"] == "unchanged"


@pytest.mark.slow
@SETTINGS
@given(
    tool=st.sampled_from(["list_volumes", "get_volume", "plan_volume_extension"]),
    arguments=st.dictionaries(
        st.sampled_from(["volume_id", "new_size_gb", "name", "state", "limit", "other"]),
        VOLUME_IDS | SIZES | JSON,
        max_size=4,
    ),
)
def test_read_only_tools_never_write(emulator: EmulatorServer, tool: str, arguments: dict[str, Any]) -> None:
    result = _call(emulator, tool, arguments)
    _assert_handled(result, tool)
    assert {e.method for e in emulator.state.journal} <= {"GET"}


PATH_TRICKS = [
    "../quota-sets",
    "..%2Fquota-sets",
    "3f500f00-ed80-4566-a057-e31760226f9a/../6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01",
    "3f500f00%2Ded80-4566-a057-e31760226f9a",
    " 3f500f00-ed80-4566-a057-e31760226f9a",
    "3f500f00-ed80-4566-a057-e31760226f9a ",
    "3f500f00-ed80-4566-a057-e31760226f9a\n",
    "3f500f00-ed80-4566-a057-e31760226f9a?x=1",
    "\uff13f500f00-ed80-4566-a057-e31760226f9a",  # fullwidth digit 3
    "3f500f00-ed80-4566-a057-e31760226f9\u0430",  # Cyrillic a
    "3f500f00\u2010ed80\u20104566\u2010a057\u2010e31760226f9a",  # Unicode hyphens
    "3" * 10_000,
    "",
]


@pytest.mark.parametrize("volume_id", PATH_TRICKS)
@pytest.mark.parametrize("tool", ["get_volume", "plan_volume_extension", "extend_volume"])
def test_path_tricks_are_refused_before_any_request(emulator: EmulatorServer, tool: str, volume_id: str) -> None:
    result = _call(emulator, tool, {"volume_id": volume_id, "new_size_gb": 104, "confirm": True})
    assert result.is_error
    _assert_handled(result, tool)
    assert emulator.state.journal.entries() == []

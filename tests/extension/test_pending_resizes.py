"""A resize that was sent blocks the next one on the same volume until a read shows it done: also when the
volume stays `in-use` while it grows, when the answer already shows the new size, and when the call that sent it
was cancelled."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer, Fault, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory, text

pytestmark = pytest.mark.anyio
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)


def _args(size: int) -> dict[str, Any]:
    return {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": size, "confirm": True}


def _volume(**changes: Any) -> dict[str, Any]:
    return {**{v["id"]: v for v in default_volumes()}[EXAMPLE_VOLUME_ID], **changes}


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
    if second == first:  # asking again for the size under way is no error: it says which attempt, and sends nothing
        assert not two.is_error, text(two)
        assert two.structured_content is not None
        assert two.structured_content["outcome"] == "under_way"
        assert two.structured_content["under_way"]["attempt_id"]
        assert "already under way" in text(two)
        assert "get_volume" in text(two)
    else:
        assert two.is_error
        assert "already in progress" in text(two)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": first}]


@pytest.mark.slow
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

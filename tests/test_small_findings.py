"""Smaller findings of the adversarial review: control routes, oversized filters, impossible timeouts."""

from __future__ import annotations

import math

import httpx
import pytest

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import ScpClient, ScpConfigError, ScpInputError, load_config
from scp_volume_mcp.settings import ServerSettings, SettingsError

from .mcp_helpers import connect, text


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Host": "evil.example:8765"}, '{"route": "show", "status": 500}'),
        ({"Origin": "http://evil.example"}, '{"route": "show", "status": 500}'),
        ({"Content-Type": "text/plain"}, '{"route": "show", "status": 500}'),
    ],
)
def test_control_routes_refuse_what_a_web_page_could_send(
    emulator: EmulatorServer, headers: dict[str, str], body: str
) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/faults", content=body, headers=headers)
    assert answer.status_code == 403
    assert httpx.get(f"{emulator.url}/_emulator/journal", headers={"Host": "evil.example"}).status_code == 403
    assert emulator.state.faults.take("show") is None


def test_control_routes_still_answer_local_json(emulator: EmulatorServer) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/faults", json={"route": "show", "status": 500})
    assert answer.status_code == 200


@pytest.mark.anyio
async def test_a_huge_name_filter_is_a_clear_error(emulator: EmulatorServer, scp: ScpClient) -> None:
    async with connect(emulator) as session:
        result = await session.client.call_tool("list_volumes", {"name": "n" * 200_000})
    assert result.is_error
    assert len(text(result)) < 2_000
    with pytest.raises(ScpInputError, match="too long or invalid"):
        await scp.list_volumes(name="n" * 200_000)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3", "abc"])
def test_impossible_timeouts_are_refused_at_start(value: str) -> None:
    with pytest.raises(SettingsError, match="SCP_TIMEOUT"):
        ServerSettings.from_env({"SCP_TIMEOUT": value})
    with pytest.raises(SettingsError, match="SCP_POLL_INTERVAL"):
        ServerSettings.from_env({"SCP_POLL_INTERVAL": value})
    if value != "abc":
        assert not (math.isfinite(float(value)) and float(value) > 0)
    with pytest.raises(ScpConfigError, match="SCP_TIMEOUT"):
        load_config(access_key="a", secret_key="b", endpoint="http://127.0.0.1:1", env={"SCP_TIMEOUT": value})

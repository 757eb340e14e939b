"""Behind a round-robin load balancer without sticky sessions: two `--stateless` replicas sharing
SCP_MCP_STATE_KEYS; a confirmation asked by one replica is answered through the other."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.http_transport import state_keys
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import SettingsError

from ..mcp_helpers import answer, text
from ..mcp_server.test_transports import http_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class RoundRobin(httpx2.AsyncBaseTransport):
    """Send each request to the next replica's port, as a load balancer without affinity does."""

    def __init__(self, ports: list[int]) -> None:
        self._next = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._next)
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_confirmation_started_on_one_replica_completes_on_another(emulator: EmulatorServer) -> None:
    keys = f"{secrets.token_hex(32)},{secrets.token_hex(32)}"
    env: dict[str, Any] = {"SCP_MCP_STATE_KEYS": keys, "SCP_CONFIRMATION": "human"}
    asked: list[str] = []
    confirm = answer("accept", asked=asked)
    with (
        http_server(emulator, "--stateless", **env) as url_a,
        http_server(emulator, "--stateless", **env) as url_b,
    ):
        ports = [int(u.split(":")[2].split("/")[0]) for u in (url_a, url_b)]
        balancer = RoundRobin(ports)
        async with (
            httpx2.AsyncClient(transport=balancer) as http,
            Client(streamable_http_client(url_a, http_client=http), elicitation_callback=confirm) as client,
        ):
            result = await client.call_tool(
                "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
            )
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert result.structured_content["confirmed_by"] == "human"
    assert len(asked) == 1
    assert set(balancer.sent) == set(ports)
    [put] = emulator.state.requests("PUT")
    assert put.body == {"size": 104}


def test_state_keys_must_be_long_and_are_never_echoed() -> None:
    assert state_keys({}) == []
    with pytest.raises(SettingsError) as short:
        state_keys({"SCP_MCP_STATE_KEYS": "short-secret-value"})
    assert "short-secret-value" not in str(short.value)

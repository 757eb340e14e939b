"""The protocol at the server's edge (issue #21, items 11 to 13): no capabilities for what this server does not
have, unknown methods as "method not found", and a stdio line that is not JSON-RPC answered, not ignored."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import METHOD_NOT_FOUND

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.mcp_tools.card import CARD_URI
from startup_wait import budget

from ..mcp_helpers import connect

HELLO = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
         "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip


@pytest.mark.anyio
async def test_no_prompts_are_declared_and_the_only_resource_is_the_card(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with connect(emulator) as session:
        capabilities = session.client.server_capabilities
        with pytest.raises(MCPError) as prompt:
            await session.client.get_prompt("anything")
        with pytest.raises(MCPError) as resource:
            await session.client.read_resource("scp://volumes")
        listed = await session.client.list_resources()
    assert capabilities.prompts is None
    assert capabilities.tools is not None
    assert [r.uri for r in listed.resources] == [CARD_URI]
    assert prompt.value.error.code == METHOD_NOT_FOUND
    assert "scp://volumes" in resource.value.error.message
    assert "Traceback" not in caplog.text


def _serve(emulator: EmulatorServer, lines: list[bytes]) -> tuple[list[dict[str, Any]], str]:
    """Send the lines, read one reply per line, then close stdin (a request still in flight at end of input is
    not what this checks)."""
    env = {**os.environ, "SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
           "SCP_SECRET_KEY": EMULATOR_SECRET_KEY, "SCP_CONFIG_DIR": "/nonexistent"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "scp_volume_mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    replies = []
    try:
        for line in lines:
            process.stdin.write(line)
            process.stdin.flush()
            ready = select.select([process.stdout], [], [], budget(15))[0]  # no reply: recorded as {}, not a hang
            replies.append(json.loads(process.stdout.readline()) if ready else {})
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    return replies, process.stderr.read().decode()


@pytest.mark.slow
def test_a_stdio_line_that_is_not_json_rpc_gets_an_error_with_a_null_id(emulator: EmulatorServer) -> None:
    lines = [
        (json.dumps(HELLO) + "\n").encode(),
        b"this is not json\n",
        b'{"id": 7, "method": "tools/list"}\n',  # JSON, but not JSON-RPC 2.0
        b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}\n',
    ]
    replies, stderr = _serve(emulator, lines)
    assert [r.get("id") for r in replies] == [1, None, None, 2], replies
    assert replies[1]["error"]["code"] == -32700
    assert replies[2]["error"]["code"] == -32600
    assert "jsonrpc" in replies[1]
    assert "id" in replies[1]
    assert "Traceback" not in stderr
    assert "waiting for an MCP client" not in stderr  # stdin is a pipe here, not a terminal

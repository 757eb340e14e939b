"""Every client set-up in the README is exercised: JSON parsed, commands run far enough to list tools."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer

from .test_transports import SCRIPT, http_server

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)
PLACEHOLDERS = {"your-access-key": EMULATOR_ACCESS_KEY, "your-secret-key": EMULATOR_SECRET_KEY,
                "${input:scp-secret-key}": EMULATOR_SECRET_KEY}  # fmt: skip


def test_ci_runs_the_readmes_test_command() -> None:
    command = README.split("Run the tests", 1)[1].split("\n\n", 2)[1].strip()
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command
    assert "uv sync --locked" in command  # CI installs the versions in uv.lock


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def _client_configs() -> list[str]:
    """The JSON blocks that configure a client (the emulator's volumes file is checked in test_first_hour)."""
    import json

    return [body for body in _blocks("json") if {"mcpServers", "servers"} & set(json.loads(body))]


def _servers(config: dict[str, Any]) -> dict[str, Any]:
    servers: dict[str, Any] = config.get("mcpServers") or config.get("servers") or {}
    return servers


def _env(env: dict[str, str], emulator: EmulatorServer) -> dict[str, str]:
    resolved = {k: PLACEHOLDERS.get(v, v) for k, v in env.items()}
    return {**resolved, "SCP_ENDPOINT": emulator.url, "SCP_CONFIG_DIR": "/nonexistent"}


def _command(name: str) -> str:
    return SCRIPT if name == "scp-volume-mcp" else name


async def _lists_tools(command: str, args: list[str], env: dict[str, str]) -> None:
    async with Client(StdioServerParameters(command=_command(command), args=args, env=env)) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]
        result = await client.call_tool("list_volumes", {"name": "volume01"})
        assert not result.is_error, result.content  # the placeholder keys were wired to the right variables


def test_the_readme_has_every_client_snippet() -> None:
    import json

    configs = [json.loads(body) for body in _client_configs()]
    assert len(configs) == 3  # Claude Desktop, VS Code, Cursor
    assert all(len(_servers(c)) == 1 for c in configs)
    assert any("claude mcp add" in body for body in _blocks("sh"))
    assert len(_blocks("python")) == 1


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("index", range(len(_client_configs())))
async def test_json_configs_start_the_server(emulator: EmulatorServer, index: int) -> None:
    import json

    [(name, server)] = _servers(json.loads(_client_configs()[index])).items()
    assert name == "scp-volume"
    await _lists_tools(server["command"], server["args"], _env(server["env"], emulator))


@pytest.mark.slow
@pytest.mark.anyio
async def test_claude_code_command_starts_the_server(emulator: EmulatorServer, tmp_path: Path) -> None:
    import json

    [line] = [body.strip() for body in _blocks("sh") if body.startswith("claude mcp add")]
    words = shlex.split(line)
    assert words[:4] == ["claude", "mcp", "add", "scp-volume"]
    assert "SECRET" not in line  # the secret stays off the command line: the credentials file holds it
    separator = words.index("--")
    options, command = words[4:separator], words[separator + 1 :]
    env = dict(value.split("=", 1) for flag, value in zip(options[::2], options[1::2], strict=True) if flag == "--env")
    credentials = tmp_path / "credentials.json"  # as the README says to write it
    credentials.write_text(json.dumps({"access-key": EMULATOR_ACCESS_KEY, "secret-key": EMULATOR_SECRET_KEY}))
    credentials.chmod(0o600)
    await _lists_tools(command[0], command[1:], {**_env(env, emulator), "SCP_CONFIG_DIR": str(tmp_path)})


@pytest.mark.slow
def test_runbook_snippet_plans_and_extends_over_http(emulator: EmulatorServer, tmp_path: Path) -> None:
    [snippet] = _blocks("python")
    # The extension takes as long as with `scp-volume-mcp emulator` (--extend-seconds 5): longer than httpx's
    # default 5 s read timeout, which the snippet must not fall into while `wait` holds the call open.
    emulator.state.settings.extend_seconds = 5.0
    token = secrets.token_urlsafe(32)
    with http_server(emulator, SCP_MCP_HTTP_TOKEN=token) as url:
        script = tmp_path / "runbook.py"
        script.write_text(snippet.replace("http://127.0.0.1:8000/mcp", url))
        env = {**os.environ, "SCP_MCP_HTTP_TOKEN": token}
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "can grow 100 GB -> 104 GB" in done.stdout
    assert 'Extended "volume01"' in done.stdout
    assert len(emulator.state.requests("PUT")) == 1

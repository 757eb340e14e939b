"""The server as users run it: `scp-volume-mcp serve` in a subprocess, over stdio and streamable HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from startup_wait import wait_listening

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
SCRIPT = shutil.which("scp-volume-mcp") or str(Path(sys.executable).with_name("scp-volume-mcp"))


def scp_env(emulator: EmulatorServer, **extra: str) -> dict[str, str]:
    return {
        "SCP_ENDPOINT": emulator.url,
        "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
        "SCP_SECRET_KEY": EMULATOR_SECRET_KEY,
        "SCP_CONFIG_DIR": "/nonexistent",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_stdio_serve_extends_once_and_refuses_the_rest(emulator: EmulatorServer) -> None:
    server = StdioServerParameters(command=SCRIPT, args=["serve"], env=scp_env(emulator, SCP_CONFIRMATION="flag"))
    async with Client(server) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]
        ok = await client.call_tool(
            "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
        )
        assert not ok.is_error
        assert ok.structured_content is not None
        assert ok.structured_content["outcome"] == "completed"
        for bad in (
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 96, "confirm": True},
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 112},
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 112, "confirm": False},
            {"volume_id": "volume01", "new_size_gb": 112, "confirm": True},
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 110, "confirm": True},
        ):
            assert (await client.call_tool("extend_volume", bad)).is_error
    [put] = emulator.state.requests("PUT")
    assert (put.body, put.signature_valid, put.version_header) == ({"size": 104}, True, "virtualserver 1.3")


async def test_stdio_read_only_flag(emulator: EmulatorServer) -> None:
    server = StdioServerParameters(command=SCRIPT, args=["serve", "--read-only"], env=scp_env(emulator))
    async with Client(server) as client:
        assert "extend_volume" not in [t.name for t in (await client.list_tools()).tools]


async def test_stdio_without_credentials_still_lists_tools_and_explains(emulator: EmulatorServer) -> None:
    env = {"SCP_CONFIG_DIR": "/nonexistent", "HOME": "/nonexistent"}
    server = StdioServerParameters(command=sys.executable, args=["-m", "scp_volume_mcp", "serve"], env=env)
    async with Client(server) as client:
        assert len((await client.list_tools()).tools) == 4
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert result.is_error
    assert "SCP_ACCESS_KEY" in str(result.content)


@contextmanager
def http_server(
    emulator: EmulatorServer, *args: str, options: tuple[str, ...] = (), output: list[str] | None = None, **env: str
) -> Iterator[str]:
    """`scp-volume-mcp [options] serve --transport http [args]` on a free port; yields the MCP URL. What the
    process printed (stdout and stderr) is appended to `output` once it has stopped."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as printed:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scp_volume_mcp",
                *options,
                "serve",
                "--transport",
                "http",
                "--port",
                str(port),
                *args,
                *(() if {"SCP_MCP_HTTP_TOKEN", "SCP_MCP_OAUTH_ISSUER"} & env.keys() else ("--no-auth",)),
            ],
            env={**os.environ, **scp_env(emulator, SCP_CONFIRMATION="flag"), **env},
            stdout=printed,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def said() -> str:
            printed.seek(0)
            return printed.read()

        try:
            wait_listening(port, process, said)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=10)
            if output is not None:
                printed.seek(0)
                output.append(printed.read())


async def test_http_without_token_on_loopback(emulator: EmulatorServer) -> None:
    with http_server(emulator) as url:
        async with Client(url) as client:
            assert len((await client.list_tools()).tools) == 4
            result = await client.call_tool(
                "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
            )
        assert result.structured_content is not None
        assert result.structured_content["outcome"] == "completed"
        # DNS-rebinding protection: a foreign Host or Origin is refused before MCP sees the request.
        async with httpx.AsyncClient() as http:
            json_type = {"Content-Type": "application/json"}
            foreign_host = await http.post(url, headers={"Host": "evil.example:80", **json_type}, content="{}")
            assert foreign_host.status_code == 421
            foreign_origin = await http.post(url, headers={"Origin": "http://evil.example", **json_type}, content="{}")
            assert foreign_origin.status_code == 403
            oversized = await http.post(url, headers=json_type, content=b"[" + b" " * 300_000 + b"]")
            assert oversized.status_code == 413
    assert len(emulator.state.requests("PUT")) == 1


async def test_http_with_token(emulator: EmulatorServer) -> None:
    token = "t0ken-" + "x" * 40
    with http_server(emulator, SCP_MCP_HTTP_TOKEN=token) as url:
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, json={})).status_code == 401
            wrong = await http.post(url, json={}, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert token not in wrong.text
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http2,
            Client(streamable_http_client(url, http_client=http2)) as client,
        ):
            assert len((await client.list_tools()).tools) == 4


def _serve_http(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if k != "SCP_MCP_HTTP_TOKEN"}
    command = [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", "9", *args]
    return subprocess.run(command, env={**clean_env, **env}, capture_output=True, text=True, timeout=30)


def test_a_short_token_is_refused() -> None:
    done = _serve_http(SCP_MCP_HTTP_TOKEN="short-token-of-31-characters-xx")
    assert done.returncode == 2
    assert "at least 32" in done.stderr
    assert "short-token" not in done.stderr


async def test_without_a_token_one_is_generated_printed_and_required(emulator: EmulatorServer) -> None:
    port = free_port()
    command = [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "SCP_MCP_HTTP_TOKEN"}
    process = subprocess.Popen(command, env={**env, **scp_env(emulator)}, stderr=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(4)]
        assert "audit trail:" in lines[0]  # said at start
        assert "streamable HTTP on" in lines[1]  # announced once the port is bound
        token = re.search(r"Authorization: Bearer (\S+)", "".join(lines))
        assert token is not None
        assert len(token.group(1)) >= 32
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"http://127.0.0.1:{port}/mcp", json={})).status_code == 401
        async with (
            httpx2.AsyncClient(headers=headers) as http2,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http2)) as client,
        ):
            assert len((await client.list_tools()).tools) == 4
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_no_auth_is_for_loopback_only() -> None:
    done = _serve_http("--host", "0.0.0.0", "--no-auth")
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_a_stdio_client_that_goes_away_ends_the_server_quietly() -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
             "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "scp_volume_mcp", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write((json.dumps(hello) + "\n").encode())
    process.stdin.flush()
    process.stdout.readline()
    process.stdout.close()  # the client stops reading: the next answer meets a broken pipe
    process.stdin.write(b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}\n')
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert b"Traceback" not in process.stderr.read()


def test_demo_runs_from_the_command_line() -> None:  # its closing client snippet: see test_first_hour
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
    done = subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", "demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in (
        "list_volumes",
        "[the server asks the human]",
        "progress",
        "100 GB -> 104 GB",
        "volumes can only grow",
        "No PUT for the refused shrink.",
        "scp-volume-mcp emulator",
        '"SCP_ENDPOINT": "http://127.0.0.1:8765"',
        "everything behaved",
    ):
        assert expected in done.stdout


def test_a_non_loopback_ipv6_bind_accepts_its_own_bracketed_host() -> None:
    from starlette.testclient import TestClient

    from scp_volume_mcp.http_transport import http_app
    from scp_volume_mcp.settings import ServerSettings

    app = http_app(ServerSettings(), "::", 8000, "t" * 32, env={})
    headers = {"Authorization": "Bearer " + "t" * 32, "Accept": "application/json, text/event-stream"}
    with TestClient(app, base_url="http://[::]:8000") as client:
        own = client.post("/mcp", json={}, headers=headers)
        foreign = client.post("/mcp", json={}, headers={**headers, "Host": "evil.example:8000"})
    assert foreign.status_code == 421
    assert own.status_code != 421


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [(("--no-auth",), {}, "--no-auth"), ((), {"SCP_MCP_HTTP_TOKEN": "x" * 40}, "SCP_MCP_HTTP_TOKEN")],
)
def test_oauth_with_a_static_token_or_no_auth_is_refused_not_ignored(
    args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    oauth = {"SCP_MCP_OAUTH_ISSUER": "https://issuer.example", "SCP_MCP_OAUTH_AUDIENCE": "https://mcp.example/mcp"}
    done = _serve_http(*args, **oauth, **env)
    assert done.returncode == 2
    assert named in done.stderr
    assert "x" * 40 not in done.stderr

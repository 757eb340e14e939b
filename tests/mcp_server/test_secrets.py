"""Distinctive secrets go through every tool, every error path, the demo, doctor and the HTTP transport;
then everything captured is searched for them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from scp_volume_mcp.emulator import EMULATOR_SECRET_KEY, EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpError, load_config
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import answer, text

ACCESS_KEY = "AKtest-Distinctive-Access-7d1e"
SECRET_KEY = "SKtest-Zebra-Quokka-9f3c2a71"
TOKEN = "tok-Marmalade-Hippo-55aa9e0c11d2"
SECRETS = (SECRET_KEY, TOKEN)


def _assert_clean(*captured: Any) -> None:
    blob = "\n".join(str(c) for c in captured)
    for secret in SECRETS:
        assert secret not in blob


@pytest.fixture
def keyed_emulator(emulator: EmulatorServer) -> EmulatorServer:
    emulator.state.settings.access_key = ACCESS_KEY
    emulator.state.settings.secret_key = SECRET_KEY
    return emulator


def _factory(emulator: EmulatorServer, secret: str = SECRET_KEY) -> Any:
    def factory() -> ScpClient:
        return ScpClient(
            load_config(access_key=ACCESS_KEY, secret_key=secret, endpoint=emulator.url, env={}), backoff_s=0.001
        )

    return factory


@pytest.mark.slow
@pytest.mark.anyio
async def test_tools_and_error_paths_never_reveal_the_secret(
    keyed_emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    settings = ServerSettings(audit_log=audit, poll_interval_s=0.05)
    captured: list[Any] = []
    calls: list[tuple[str, dict[str, Any], Fault | None]] = [
        ("list_volumes", {}, None),
        ("get_volume", {"volume_id": EXAMPLE_VOLUME_ID}, None),
        ("get_volume", {"volume_id": "00000000-0000-4000-8000-000000000000"}, None),
        ("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104}, None),
        ("extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "wait": True}, None),
        ("extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 96, "confirm": True}, None),
        ("extend_volume", {"volume_id": "bad", "new_size_gb": 7, "confirm": 1}, None),
    ]
    for status in (401, 409, 400, 500, 503, 429):
        calls.append(
            (
                "extend_volume",
                {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 208, "confirm": True},
                Fault("extend", status=status),
            )
        )
    calls.append(
        (
            "extend_volume",
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 208, "confirm": True},
            Fault("extend", drop=True),
        )
    )
    calls.append(("get_volume", {"volume_id": EXAMPLE_VOLUME_ID}, Fault("show", malformed=True)))
    async with Client(
        build_server(settings, _factory(keyed_emulator)), elicitation_callback=answer("accept")
    ) as client:
        for tool, arguments, fault in calls:
            if fault is not None:
                keyed_emulator.state.add_fault(fault)
            result = await client.call_tool(tool, arguments)
            captured += [text(result), result.structured_content, result]
    # A wrong secret: the platform refuses, and the refusal must not echo what was tried.
    async with Client(build_server(settings, _factory(keyed_emulator, secret="Wrong-" + SECRET_KEY))) as client:
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        assert result.is_error
        captured += [text(result)]
    assert len(captured) > 40
    _assert_clean(*captured, caplog.text, capsys.readouterr(), audit.read_text())
    for record in caplog.records:
        _assert_clean(record.getMessage(), record.args, record.exc_info)


@pytest.mark.anyio
async def test_client_objects_and_exceptions_do_not_carry_the_secret(keyed_emulator: EmulatorServer) -> None:
    config = load_config(access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint=keyed_emulator.url, env={})
    keyed_emulator.state.add_fault(Fault("show", status=401))
    async with ScpClient(config) as client:
        with pytest.raises(ScpError) as info:
            await client.show_volume(EXAMPLE_VOLUME_ID)
        _assert_clean(
            repr(config), str(config), repr(client), repr(client._http.auth), repr(info.value), info.value.args
        )


def _run(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", "--log-level", "DEBUG", *args],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("SCP_")}, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_doctor_never_prints_the_secret(keyed_emulator: EmulatorServer) -> None:
    env = {"SCP_ENDPOINT": keyed_emulator.url, "SCP_ACCESS_KEY": ACCESS_KEY, "SCP_SECRET_KEY": SECRET_KEY}
    good = _run(["doctor"], env)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _run(["doctor"], {**env, "SCP_SECRET_KEY": SECRET_KEY + "-wrong"})
    assert bad.returncode == 1
    _assert_clean(good.stdout, good.stderr, bad.stdout, bad.stderr)
    assert "******** (28 characters)" in good.stdout


@pytest.mark.slow
def test_demo_never_prints_the_emulator_secret() -> None:
    done = _run(["demo"], {})
    assert done.returncode == 0, done.stdout + done.stderr
    # The demo ends with a client configuration for the emulator, which carries its published demo key on
    # purpose (as `scp-volume-mcp emulator` prints it); nowhere else does the key appear.
    before, _, snippet = done.stdout.partition("== Rehearse with your own client")
    assert f'"SCP_SECRET_KEY": "{EMULATOR_SECRET_KEY}"' in snippet
    assert EMULATOR_SECRET_KEY not in before + snippet.replace(f'"SCP_SECRET_KEY": "{EMULATOR_SECRET_KEY}"', "")
    assert EMULATOR_SECRET_KEY not in done.stderr


@pytest.mark.slow
def test_http_token_never_reaches_the_output(keyed_emulator: EmulatorServer) -> None:
    import httpx

    from .test_transports import http_server

    output: list[str] = []
    with http_server(keyed_emulator, options=("--log-level", "DEBUG"), output=output, SCP_MCP_HTTP_TOKEN=TOKEN) as url:
        response = httpx.post(url, json={}, headers={"Authorization": "Bearer x" + TOKEN})
        assert response.status_code == 401
        _assert_clean(response.text, response.headers)
    [printed] = output
    _assert_clean(printed)

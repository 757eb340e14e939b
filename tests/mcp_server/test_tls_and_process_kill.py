"""HTTPS with a real certificate, and a server killed between the audit intent and its outcome."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import signal
import ssl
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from scp_volume_mcp.audit import UNKNOWN, attempts
from scp_volume_mcp.audit.command import read_file
from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from startup_wait import budget

from .test_transports import free_port, scp_env

pytestmark = pytest.mark.anyio


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.slow
async def test_https_with_a_real_certificate(emulator: EmulatorServer, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port, token = free_port(), "k" * 40
    command = [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port),
               "--tls-certfile", str(cert), "--tls-keyfile", str(key)]  # fmt: skip
    env = {**os.environ, **scp_env(emulator), "SCP_MCP_HTTP_TOKEN": token}
    process = await anyio.open_process(command, env=env)
    try:
        assert process.stderr is not None
        announced = b""
        with anyio.fail_after(budget(20)):  # start-up: grows with the load
            while b"/mcp" not in announced:
                announced += await process.stderr.receive()
        assert f"https://127.0.0.1:{port}/mcp".encode() in announced
        trust = ssl.create_default_context(cafile=str(cert))
        async with (
            httpx2.AsyncClient(verify=trust, headers={"Authorization": f"Bearer {token}"}) as http,
            Client(streamable_http_client(f"https://127.0.0.1:{port}/mcp", http_client=http)) as client,
        ):
            assert len((await client.list_tools()).tools) == 4
        async with httpx2.AsyncClient(verify=ssl.create_default_context()) as untrusting:
            with pytest.raises(httpx2.ConnectError):
                await untrusting.post(f"https://127.0.0.1:{port}/mcp", json={})
    finally:
        process.terminate()
        await process.wait()


@pytest.mark.slow
async def test_a_server_killed_between_intent_and_outcome_leaves_outcome_unknown(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    log, pid_file = tmp_path / "audit.jsonl", tmp_path / "server.pid"
    emulator.state.add_fault(Fault("extend", latency_s=3.0))
    env = {**scp_env(emulator), "SCP_CONFIRMATION": "flag", "SCP_AUDIT_LOG": str(log), "PATH": os.environ["PATH"]}
    server = StdioServerParameters(
        command="sh",
        args=["-c", f'echo $$ > "{pid_file}"; exec "{sys.executable}" -m scp_volume_mcp serve'],
        env=env,
    )
    args = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
    with anyio.move_on_after(30):
        async with Client(server) as client, anyio.create_task_group() as tg:

            async def call() -> None:
                with contextlib.suppress(Exception):  # the server dies under the call; that is the point
                    await client.call_tool("extend_volume", args)

            tg.start_soon(call)
            while not (log.exists() and log.read_text()):  # noqa: ASYNC110 - written by the other process
                await anyio.sleep(0.02)
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            tg.cancel_scope.cancel()
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["phase"] == "intent"
    [attempt] = attempts(read_file(log))
    assert attempt["outcome"] == UNKNOWN

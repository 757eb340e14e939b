"""Connection failures named by their cause, with real sockets: a closed port, a name that does not resolve, a
TLS server this machine does not trust, a listener that never accepts; in the client, the tools and `doctor`."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from mcp import Client

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConfig, ScpTimeoutError, ScpTransportError, load_config
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_server.test_tls_and_process_kill import _self_signed
from ..mcp_server.test_transports import free_port

pytestmark = pytest.mark.anyio


def _config(endpoint: str, timeout_s: float = 5.0) -> ScpConfig:
    return load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=endpoint,
                       timeout_s=timeout_s, env={})  # fmt: skip


@contextlib.contextmanager
def _untrusted_tls_server(folder: Path) -> Iterator[int]:
    """A TLS server on loopback whose certificate is self-signed: the handshake fails on the client's side."""
    cert, key = _self_signed(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True):
                pass  # the client refuses the certificate; nothing more to say

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _never_accepting() -> Iterator[int]:
    """A listener with a full backlog that never accepts: the kernel drops further connection attempts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield port
    finally:
        filler.close()
        listener.close()


async def _failure(config: ScpConfig) -> ScpTransportError:
    async with ScpClient(config, read_attempts=1) as client:
        with pytest.raises(ScpTransportError) as info:
            await client.show_volume(EXAMPLE_VOLUME_ID)
    return info.value


async def test_a_closed_port_is_connection_refused() -> None:
    port = free_port()
    error = await _failure(_config(f"http://127.0.0.1:{port}"))
    assert (error.reason, error.sent) == ("refused", False)
    assert f"connection refused by 127.0.0.1:{port}" in str(error)


async def test_a_name_that_does_not_resolve_says_so() -> None:
    error = await _failure(_config("https://nonexistent.invalid"))
    assert (error.reason, error.sent) == ("name", False)
    assert "the name nonexistent.invalid could not be resolved" in str(error)


@pytest.mark.slow
async def test_an_untrusted_certificate_is_a_failed_tls_handshake(tmp_path: Path) -> None:
    with _untrusted_tls_server(tmp_path) as port:
        error = await _failure(_config(f"https://127.0.0.1:{port}"))
    assert (error.reason, error.sent) == ("tls", False)
    assert f"the TLS handshake with 127.0.0.1:{port} failed" in str(error)
    assert "certificate" in str(error)


async def test_a_connection_that_is_never_accepted_times_out_unsent() -> None:
    with _never_accepting() as port:
        error = await _failure(_config(f"http://127.0.0.1:{port}", timeout_s=0.3))
    assert isinstance(error, ScpTimeoutError)
    assert (error.reason, error.sent) == ("timeout", False)
    assert f"connecting to 127.0.0.1:{port} timed out" in str(error)


async def test_tool_errors_name_the_cause_and_point_to_doctor() -> None:
    config = _config(f"http://127.0.0.1:{free_port()}")
    server = build_server(ServerSettings(), lambda: ScpClient(replace(config), read_attempts=1))
    async with Client(server) as client:
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert result.is_error
    words = getattr(result.content[0], "text", "")
    assert "connection refused by 127.0.0.1:" in words
    assert "run `scp-volume-mcp doctor`" in words.lower()

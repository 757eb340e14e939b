"""The streamable HTTP server's edges, answered in the spec's words (issue #30): a JSON-RPC batch or a body that
is not one message is an Invalid Request (no pydantic validation dump), a `MCP-Protocol-Version` header the server
does not speak gets the versions it does, and SCP_MCP_ALLOWED_ORIGINS opens CORS to exact origins only: from
httpx, and from a page of another origin in headless Chromium.

The app is the one `serve --transport http` runs (`http_transport.http_app`), served by uvicorn from a thread."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from mcp import Client
from mcp.types import INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from scp_volume_mcp.http_edges import BATCH_REFUSED, NOT_ONE_MESSAGE
from scp_volume_mcp.http_transport import http_app
from scp_volume_mcp.settings import ALLOWED_ORIGINS_ENV, ServerSettings, SettingsError, allowed_origins

from ..card_host import chromium, load_page

TOKEN = "edge-token-" + "x" * 32
JSON_OR_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
HELLO = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
         "capabilities": {}, "clientInfo": {"name": "edge test", "version": "1"}}}  # fmt: skip
LIST = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}


@contextmanager
def served(*, token: str | None = TOKEN, origins: tuple[str, ...] = ()) -> Iterator[str]:
    """The HTTP app on a loopback port of its own (bound before the app is built, so that its allowed Host is
    right); yields the MCP endpoint's URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    app = http_app(ServerSettings(audit_log=None, allowed_origins=origins), "127.0.0.1", port, token, env={})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"waited 15 s for uvicorn to serve the MCP app on 127.0.0.1:{port}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {**JSON_OR_SSE, "Authorization": f"Bearer {token}"}


def session_of(http: httpx.Client, url: str) -> str:
    """A 2025-06-18 session, initialized as a client would."""
    hello = http.post(url, headers=bearer(), json=HELLO)
    assert hello.status_code == 200, hello.text
    session = hello.headers["mcp-session-id"]
    headers = {**bearer(), "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    done = http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert done.status_code == 202, done.text
    return session


def assert_no_dump(answer: httpx.Response) -> None:
    for trace in ("validation error", "pydantic", "input_value", "input_type"):
        assert trace not in answer.text.lower(), answer.text


def test_a_batch_is_an_invalid_request_without_a_validation_dump() -> None:
    with served() as url, httpx.Client() as http:
        session = session_of(http, url)
        in_session = {**bearer(), "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
        modern = {**bearer(), "MCP-Protocol-Version": MODERN_PROTOCOL_VERSIONS[-1]}
        answers = [http.post(url, headers=headers, json=[HELLO, LIST]) for headers in (bearer(), in_session, modern)]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json() == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": INVALID_REQUEST, "message": BATCH_REFUSED},
        }
        assert_no_dump(answer)


def test_the_older_refusals_come_first() -> None:
    """No token: 401; a foreign Host: 421 naming SCP_MCP_ALLOWED_HOSTS; a foreign Origin: 403; a body over the
    limit (even one that starts as a batch): 413; whatever the body or the version header."""
    wrong = {"MCP-Protocol-Version": "1999-01-01"}
    with served() as url, httpx.Client() as http:
        no_token = http.post(url, headers={**JSON_OR_SSE, **wrong}, json=[HELLO])
        foreign_host = http.post(url, headers={**bearer(), **wrong, "Host": "evil.example"}, json=[HELLO])
        foreign_origin = http.post(url, headers={**bearer(), **wrong, "Origin": "http://evil.example"}, json=[HELLO])
        oversized = http.post(url, headers=bearer(), content=b"[" + b" " * 300_000 + b"]")
    assert [a.status_code for a in (no_token, foreign_host, foreign_origin, oversized)] == [401, 421, 403, 413]
    assert "SCP_MCP_ALLOWED_HOSTS" in foreign_host.text


def test_a_body_that_is_not_one_message_is_an_invalid_request_too() -> None:
    with served() as url, httpx.Client() as http:
        answers = [http.post(url, headers=bearer(), json=body) for body in ({"id": 3}, {"jsonrpc": "1.0"}, "tools")]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["error"] == {"code": INVALID_REQUEST, "message": NOT_ONE_MESSAGE}
        assert_no_dump(answer)
    assert answers[0].json()["id"] == 3  # answered by its id where it has one


def test_a_wrong_protocol_version_header_is_answered_with_the_supported_versions() -> None:
    supported = [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS]
    with served() as url, httpx.Client() as http:
        session = {**bearer(), "Mcp-Session-Id": session_of(http, url)}
        wrong = {"MCP-Protocol-Version": "1999-01-01"}
        answers = [
            http.post(url, headers={**bearer(), **wrong}, json=LIST),  # before any session
            http.post(url, headers={**session, **wrong}, json=LIST),
            http.get(url, headers={**session, **wrong}),  # the stream of server messages
        ]
        still = http.post(url, headers={**session, "MCP-Protocol-Version": "2025-06-18"}, json=LIST)
    for answer, request_id in zip(answers, (7, 7, None), strict=True):
        assert answer.status_code == 400
        body = answer.json()
        assert (body["id"], body["error"]["code"]) == (request_id, UNSUPPORTED_PROTOCOL_VERSION)
        assert body["error"]["data"] == {"supported": supported, "requested": "1999-01-01"}
        assert "this server supports 2024-11-05, 2025-03-26" in body["error"]["message"]
        assert "_meta" not in body["error"]["message"]
    assert still.status_code == 200, still.text  # the session is unharmed


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdks_client_connects_through_the_edges(mode: str) -> None:
    """The Python SDK's client, in the 2026 per-request envelope (auto) and the 2025 handshake (legacy), with CORS
    on: nothing at the edge is in its way."""
    with served(token=None, origins=("http://127.0.0.1:1",)) as url:
        async with Client(url, mode=mode) as client:
            tools = (await client.list_tools()).tools
    assert "plan_volume_extension" in [t.name for t in tools]


PAGE_ORIGIN = "http://127.0.0.1:5173"


def test_cors_answers_a_listed_origin_and_keeps_refusing_the_rest() -> None:
    preflight = {"Origin": PAGE_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version"}  # fmt: skip
    with served(origins=(PAGE_ORIGIN, "https://chat.example.com")) as url, httpx.Client() as http:
        asked = http.options(url, headers=preflight)  # a browser sends it without the token
        hello = http.post(url, headers={**bearer(), "Origin": PAGE_ORIGIN}, json=HELLO)
        unauthorized = http.post(url, headers={**JSON_OR_SSE, "Origin": PAGE_ORIGIN}, json=HELLO)
        foreign = http.post(url, headers={**bearer(), "Origin": "http://127.0.0.1:5174"}, json=HELLO)
        foreign_preflight = http.options(url, headers={**preflight, "Origin": "https://evil.example"})
    assert asked.status_code == 204
    assert asked.headers["access-control-allow-origin"] == PAGE_ORIGIN  # the origin itself, never "*"
    allowed = {h.strip().lower() for h in asked.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "mcp-protocol-version", "mcp-session-id"} <= allowed
    assert "POST" in asked.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in asked.headers
    assert hello.status_code == 200
    assert hello.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert "Mcp-Session-Id" in hello.headers["access-control-expose-headers"]
    assert hello.headers["mcp-session-id"]
    assert "Origin" in hello.headers["vary"]
    assert unauthorized.status_code == 401  # the page may read why
    assert unauthorized.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert foreign.status_code == 403  # as before: an origin not in the list is refused
    assert "access-control-allow-origin" not in foreign.headers
    assert foreign_preflight.status_code in (401, 403)
    assert "access-control-allow-origin" not in foreign_preflight.headers


def test_without_allowed_origins_there_is_no_cors() -> None:
    with served(token=None) as url, httpx.Client() as http:
        asked = http.options(url, headers={"Origin": PAGE_ORIGIN, "Access-Control-Request-Method": "POST"})
        posted = http.post(url, headers={**JSON_OR_SSE, "Origin": PAGE_ORIGIN}, json=HELLO)
    assert (asked.status_code, posted.status_code) == (403, 403)
    assert "access-control-allow-origin" not in asked.headers


def test_allowed_origins_are_exact_origins() -> None:
    given = "https://Chat.Example.com/, http://127.0.0.1:5173,http://[::1]:8080 , https://chat.example.com"
    assert allowed_origins({ALLOWED_ORIGINS_ENV: given}) == (
        "https://chat.example.com",
        "http://127.0.0.1:5173",
        "http://[::1]:8080",
    )
    assert ServerSettings.from_env({ALLOWED_ORIGINS_ENV: "http://localhost:3000"}).allowed_origins == (
        "http://localhost:3000",
    )
    assert allowed_origins({}) == ()
    for wrong in ("*", "https://*.example.com", "null", "https://chat.example.com/app", "chat.example.com"):
        with pytest.raises(SettingsError) as refused:
            allowed_origins({ALLOWED_ORIGINS_ENV: f"https://ok.example.com,{wrong}"})
        assert ALLOWED_ORIGINS_ENV in str(refused.value)
        assert refused.value.fix is not None


_BROWSER_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>a browser-based host</title></head>
<body><pre id="report">pending</pre>
<script>
"use strict";
const MCP = new URLSearchParams(location.search).get("mcp");  // the MCP server: another origin
const report = { origin: location.origin };
async function rpc(message, session) {
  const headers = { "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                    "Authorization": "Bearer " + __TOKEN__ };
  if (session) Object.assign(headers, { "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18" });
  const response = await fetch(MCP, { method: "POST", headers, body: JSON.stringify(message) });
  const text = await response.text();
  const data = text.split("\\n").filter((line) => line.startsWith("data: ")).map((line) => JSON.parse(line.slice(6)));
  return { status: response.status, session: response.headers.get("Mcp-Session-Id"), data };
}
(async () => {
  try {
    const hello = await rpc(__HELLO__);
    Object.assign(report, { hello: hello.status, session: hello.session });
    await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, hello.session);
    const listed = await rpc({ jsonrpc: "2.0", id: 2, method: "tools/list" }, hello.session);
    report.tools = listed.data[0].result.tools.map((tool) => tool.name);
  } catch (error) {
    report.error = String(error);
  }
  document.getElementById("report").textContent = JSON.stringify(report);
})();
</script></body></html>
"""


@contextmanager
def page_server(page: str) -> Iterator[int]:
    """The page, served on a loopback port of its own (another origin than the MCP server's); yields the port."""
    body = page.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(timeout=15)
        server.server_close()


@pytest.mark.slow  # Chromium, twice
def test_a_page_of_a_listed_origin_calls_the_server_from_a_browser_and_another_cannot() -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the CORS browser test needs it")
    page = _BROWSER_PAGE.replace("__TOKEN__", json.dumps(TOKEN)).replace("__HELLO__", json.dumps(HELLO))
    with (
        tempfile.TemporaryDirectory() as folder,
        page_server(page) as port,
        served(origins=(f"http://127.0.0.1:{port}",)) as url,
    ):
        query = urlencode({"mcp": url})
        listed = load_page(browser, f"http://127.0.0.1:{port}/?{query}", Path(folder) / "a")
        other = load_page(browser, f"http://localhost:{port}/?{query}", Path(folder) / "b")  # not in the list
    assert listed.get("error") is None, listed
    assert (listed["origin"], listed["hello"]) == (f"http://127.0.0.1:{port}", 200)
    assert listed["session"], "the page could not read Mcp-Session-Id"
    assert "plan_volume_extension" in listed["tools"]
    assert other["origin"] == f"http://localhost:{port}"
    assert "Failed to fetch" in other["error"]  # the browser was given no CORS answer to let it read anything

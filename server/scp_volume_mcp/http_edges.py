"""What an HTTP client meets at the edge, in words that say what to do:

- a request for a `Host` this server does not answer to (the SDK's DNS-rebinding protection answers 421 "Invalid
  Host header") names the value and the setting that admits it, SCP_MCP_ALLOWED_HOSTS. Drop
  `ForeignHostExplained` once the SDK lets the 421's text be set;
- `ProtocolEdges`: a body that is not one JSON-RPC message (a batch, a JSON array, above all) is refused as an
  Invalid Request in the transport spec's words, not with the SDK's pydantic validation dump; an
  `MCP-Protocol-Version` header this server does not speak is answered as the spec's unsupported version, with the
  versions it does (the SDK's list), not with a complaint about the 2026 `_meta` envelope;
- `BrowserHosts`: CORS for the web origins in SCP_MCP_ALLOWED_ORIGINS (exact origins: a page of one may call the
  server from a browser and read `Mcp-Session-Id`); any other origin is refused as before (403).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from typing import Any

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.types import INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request

from .untrusted_text import clean

ALLOWED_HOSTS_ENV = "SCP_MCP_ALLOWED_HOSTS"
SUPPORTED_VERSIONS: tuple[str, ...] = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
"""Every protocol version the SDK serves: those of the `initialize` handshake and those of the per-request envelope."""
VERSION_HEADER = b"mcp-protocol-version"
BATCH_REFUSED = (
    "Invalid Request: the body of a POST must be a single JSON-RPC request, notification, or response; this server "
    "does not take batches (a JSON array): send each message in a POST of its own."
)
NOT_ONE_MESSAGE = (
    "Invalid Request: the body of a POST must be a single JSON-RPC request, notification, or response (an object "
    'with "jsonrpc": "2.0" and a method, or an id with a result or an error).'
)


def foreign_host_text(host: str) -> str:
    return (
        f"Invalid Host header: {clean(host, 100).text!r} is not a name this server answers to. If it is yours, add it "
        f"to {ALLOWED_HOSTS_ENV} (comma-separated, exactly as the Host header arrives: a proxy's "
        "`proxy_set_header Host $host` sends the name without a port; `name:*` admits any port)."
    )


class ForeignHostExplained:
    """Rewrites the SDK's 421 answer to a foreign `Host` into `foreign_host_text`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"), "")
        rewriting = False

        async def explained(message: dict[str, Any]) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 421:
                rewriting = True
                body = foreign_host_text(host).encode()
                headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 421, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if rewriting:  # the SDK's own body for the 421: already answered
                return
            await send(message)

        await self.app(scope, receive, explained)


Message = dict[str, Any]


def unsupported_version_text(requested: str) -> str:
    supported = ", ".join(SUPPORTED_VERSIONS[:-1]) + " and " + SUPPORTED_VERSIONS[-1]
    return (
        f"Unsupported protocol version: the MCP-Protocol-Version header says {requested!r}; this server supports "
        f"{supported}."
    )


class ProtocolEdges:
    """At the MCP endpoint: a request with an `MCP-Protocol-Version` the server does not speak is answered here
    (400, `UNSUPPORTED_PROTOCOL_VERSION` with `data.supported` and `data.requested`, as the 2026-07-28 spec's
    UnsupportedProtocolVersionError), and so is a POST whose body is a batch (400, Invalid Request); the SDK's 400
    for any other body that is not one JSON-RPC message (a pydantic validation dump) becomes an Invalid Request.

    A request that the SDK's own checks refuse (Content-Type, a foreign Host or Origin) goes to it untouched, to be
    refused as before; so does a body over `max_body` bytes (the SDK's 413). What a well-formed request costs here:
    a look at its headers, at the first byte of its body and at the status of its answer."""

    def __init__(self, app: Any, security: TransportSecuritySettings, *, path: str = "/mcp", max_body: int) -> None:
        self.app = app
        self._security = TransportSecurityMiddleware(security)
        self._paths = {path.rstrip("/"), path.rstrip("/") + "/"}
        self._max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in self._paths or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        post = scope["method"] == "POST"
        version = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == VERSION_HEADER), None)
        body, received = await self._body(receive) if post else (b"", [])
        replay = _replaying(received, receive)
        if body is None:  # over the limit, or the client went away: the SDK's to answer
            await self.app(scope, replay, send)
            return
        error = _refusal(version, body)
        if error is not None and await self._security.validate_request(Request(scope), is_post=post) is None:
            await _answer(send, {"jsonrpc": "2.0", "id": _request_id(body), "error": error})
            return
        await self.app(scope, replay, _without_validation_dump(send, body) if post else send)

    async def _body(self, receive: Any) -> tuple[bytes | None, list[Message]]:
        """The request's body and the messages it came in (replayed to the app); None for the body when it is over
        the limit (the SDK answers 413) or the client went away."""
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None, received
            size += len(message.get("body", b""))
            if size > self._max_body:
                return None, received
            if not message.get("more_body", False):
                return b"".join(m.get("body", b"") for m in received), received


def _refusal(version: str | None, body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC error for a request with this `MCP-Protocol-Version` header and body; None: the SDK's to serve."""
    if version is not None and version not in SUPPORTED_VERSIONS:
        requested = clean(version, 100).text
        data = {"supported": list(SUPPORTED_VERSIONS), "requested": requested}
        return {"code": UNSUPPORTED_PROTOCOL_VERSION, "message": unsupported_version_text(requested), "data": data}
    if body.lstrip()[:1] == b"[":  # a JSON array: a batch (or not JSON at all, which is no better)
        return {"code": INVALID_REQUEST, "message": BATCH_REFUSED}
    return None


def _without_validation_dump(send: Any, body: bytes) -> Any:
    """`send`, except that the SDK's 400 "Validation error: <pydantic's report>" for a body that is JSON but not a
    JSON-RPC message is sent as an Invalid Request in the spec's words (answering the request's id, if it has one)."""
    held: list[Message] = []

    async def explained(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held.append(message)
            return
        if not held:
            await send(message)
            return
        held.append(message)
        if message.get("more_body", False):
            return
        answer = b"".join(m.get("body", b"") for m in held[1:])
        if b'"Validation error: ' in answer:
            error = {"code": INVALID_REQUEST, "message": NOT_ONE_MESSAGE}
            await _answer(send, {"jsonrpc": "2.0", "id": _request_id(body), "error": error})
        else:
            for kept in held:
                await send(kept)
        held.clear()

    return explained


def _request_id(body: bytes) -> str | int | None:
    """The id of the request in `body`, to answer it by; None when there is none to read."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found = message.get("id") if isinstance(message, dict) else None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def _replaying(received: list[Message], receive: Any) -> Any:
    pending = deque(received)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        message: Message = await receive()
        return message

    return replay


async def _answer(send: Any, payload: dict[str, Any]) -> None:
    """400 Bad Request with a JSON-RPC error, as the transport spec answers a request it cannot serve."""
    body = json.dumps(payload).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 400, "headers": start})
    await send({"type": "http.response.body", "body": body})


CORS_METHODS = "GET, POST, DELETE"
CORS_REQUEST_HEADERS = (
    "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name"
)
"""What a browser-based client sends: the bearer token, the transport's headers (2025 and 2026 revisions)."""
CORS_EXPOSED_HEADERS = "Mcp-Session-Id, WWW-Authenticate"
"""What its script must read: the session it was given, and where to find the authorization server on a 401."""
CORS_MAX_AGE_S = 600


class BrowserHosts:
    """CORS for `origins` (exact, as browsers send `Origin`): a preflight from one of them is answered here, before
    authentication (a browser sends no token with it); every answer to one of them names it in
    `Access-Control-Allow-Origin` and exposes `Mcp-Session-Id`. Never `*`, and no
    `Access-Control-Allow-Credentials`: the bearer token is a header the page sets, not a cookie the browser adds.
    A request from any other origin passes through untouched, to be refused as before."""

    def __init__(self, app: Any, origins: Sequence[str]) -> None:
        self.app = app
        self._origins = frozenset(origins)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin not in self._origins:
            await self.app(scope, receive, send)
            return
        allow = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            preflight = [
                (b"access-control-allow-methods", CORS_METHODS.encode()),
                (b"access-control-allow-headers", CORS_REQUEST_HEADERS.encode()),
                (b"access-control-max-age", str(CORS_MAX_AGE_S).encode()),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": allow + preflight})
            await send({"type": "http.response.body", "body": b""})
            return
        exposed = [*allow, (b"access-control-expose-headers", CORS_EXPOSED_HEADERS.encode())]

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *exposed]}
            await send(message)

        await self.app(scope, receive, with_cors)

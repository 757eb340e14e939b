"""`scp-volume-mcp serve`: the MCP server on stdio, or on streamable HTTP at /mcp (bearer token, Host checks)."""

from __future__ import annotations

import hmac
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, Literal

from .settings import ServerSettings, SettingsError

Scope = dict[str, Any]
TOKEN_ENV = "SCP_MCP_HTTP_TOKEN"  # noqa: S105 - the variable's name, not a token
ALLOWED_HOSTS_ENV = "SCP_MCP_ALLOWED_HOSTS"
MAX_REQUEST_BODY = 256 * 1024
"""MCP requests to this server are small; anything larger is refused before it is parsed."""


class BearerTokenMiddleware:
    """Require `Authorization: Bearer <token>` on every HTTP request (compared in constant time)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def __repr__(self) -> str:
        return "BearerTokenMiddleware(token='**********')"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            supplied = b""
            for name, value in scope.get("headers", []):
                if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
                    supplied = value[7:].strip()
            if not hmac.compare_digest(supplied, self._token):
                body = json.dumps({"error": "unauthorized", "error_description": "missing or wrong bearer token"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="scp-volume-mcp"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def http_app(settings: ServerSettings, host: str, port: int, env: Mapping[str, str] | None = None) -> Any:
    """The ASGI app for streamable HTTP, with DNS-rebinding protection and, when configured, a bearer token.

    Raises `SettingsError` when binding beyond loopback without a token.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    from .scp import is_loopback_host, url_host
    from .server import build_server

    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "")
    if not is_loopback_host(host) and not token:
        raise SettingsError(
            f"Serving on {host} exposes the server beyond this machine: set {TOKEN_ENV} to a long random "
            "token (clients send it as 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
        )
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"{url_host(host)}:{port}"]
    hosts += [h.strip() for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
    )
    app = build_server(settings).streamable_http_app(
        transport_security=security, host=host, max_request_body_size=MAX_REQUEST_BODY
    )
    return BearerTokenMiddleware(app, token) if token else app


def serve(
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    read_only: bool | None = None,
    confirmation: str | None = None,
) -> int:
    try:
        settings = ServerSettings.from_env(read_only=read_only, confirmation=confirmation)
        if transport == "stdio":
            from .server import build_server

            build_server(settings).run("stdio")
            return 0
        app = http_app(settings, host, port)
    except SettingsError as exc:
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from .scp import url_host

    print(f"scp-volume-mcp: streamable HTTP on http://{url_host(host)}:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)
    return 0

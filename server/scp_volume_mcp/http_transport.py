"""`scp-volume-mcp serve`: the MCP server on stdio, or on streamable HTTP at /mcp (bearer token, Host checks).
Both stop gracefully on SIGTERM (or Ctrl+C): see `graceful_stop`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings

from . import messages
from .graceful_stop import StopGate, graceful_server, run_stdio
from .http_edges import BrowserHosts, ForeignHostExplained, ProtocolEdges
from .jwks import OAuthConfigError
from .logs import START_LOGGER
from .oauth import ISSUER_ENV, OAuthSettings, ResourceMetadataApp
from .scp import credentials_exposure, is_loopback_host, url_host
from .server import build_server
from .settings import ServerSettings, SettingsError
from .stdio_transport import say_if_terminal
from .tracing import configure_from_env

if TYPE_CHECKING:
    from .oauth import OAuthSettings

Scope = dict[str, Any]
TOKEN_ENV = "SCP_MCP_HTTP_TOKEN"  # noqa: S105 - the variable's name, not a token
ALLOWED_HOSTS_ENV = "SCP_MCP_ALLOWED_HOSTS"
STATE_KEYS_ENV = "SCP_MCP_STATE_KEYS"
MIN_STATE_KEY_LENGTH = 32
MIN_TOKEN_LENGTH = 32
KEEP_ALIVE_S = 75
"""Seconds an idle HTTP connection stays open: longer than clients' and proxies' idle timeouts."""
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


def state_keys(env: Mapping[str, str]) -> list[str]:
    """SCP_MCP_STATE_KEYS: comma-separated secrets, the first seals and all unseal (rotation); every replica
    behind one load balancer must have the same. Raises `SettingsError` (never echoing a key)."""
    keys = [k.strip() for k in env.get(STATE_KEYS_ENV, "").split(",") if k.strip()]
    for number, key in enumerate(keys, 1):
        if len(key.encode()) < MIN_STATE_KEY_LENGTH:
            raise SettingsError(
                f"{STATE_KEYS_ENV}: key {number} is shorter than {MIN_STATE_KEY_LENGTH} bytes; generate one with "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
    return keys


def resolve_token(host: str, *, no_auth: bool, env: Mapping[str, str] | None = None) -> tuple[str | None, bool]:
    """The bearer token to require and whether it was generated here; None only for `--no-auth` on loopback.

    Raises `SettingsError` for a short token, or `--no-auth` beyond loopback.
    """

    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{TOKEN_ENV} is {messages.plural(len(token), 'character')} long; use at least {MIN_TOKEN_LENGTH} "
            "random characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )
    if token:
        return token, False
    if no_auth:
        if not is_loopback_host(host):
            raise SettingsError(f"--no-auth is for loopback addresses only, not {host}; set {TOKEN_ENV} instead.")
        return None, False
    return secrets.token_urlsafe(32), True


def oauth_settings(env: Mapping[str, str] | None = None, *, no_auth: bool = False) -> OAuthSettings | None:
    """OAuth from the environment (None when not configured); refuses it beside a static token or `--no-auth`,
    which it would otherwise silently override."""

    env = os.environ if env is None else env
    try:
        oauth = OAuthSettings.from_env(env)
    except OAuthConfigError as exc:
        raise SettingsError(str(exc)) from None
    if oauth is not None and env.get(TOKEN_ENV):
        raise SettingsError(f"{TOKEN_ENV} and {ISSUER_ENV} are both set: use OAuth or the static token, not both")
    if oauth is not None and no_auth:
        raise SettingsError(f"--no-auth and {ISSUER_ENV} are both given: OAuth would override --no-auth; drop one")
    return oauth


def http_app(
    settings: ServerSettings,
    host: str,
    port: int,
    token: str | None,
    env: Mapping[str, str] | None = None,
    *,
    oauth: OAuthSettings | None = None,
    stateless: bool = False,
    gate: StopGate | None = None,
) -> Any:
    """The ASGI app for streamable HTTP, with DNS-rebinding protection and either OAuth (`oauth`), a bearer
    token, or (`token` None, loopback only) nothing; `gate` (a graceful stop's) counts and refuses tool calls.
    Outermost, CORS for the origins of `settings.allowed_origins` (a browser's preflight carries no token);
    innermost, the protocol's edges answered in the spec's words (`http_edges.ProtocolEdges`)."""

    env = os.environ if env is None else env
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"{url_host(host)}:{port}"]
    hosts += [h.strip() for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts] + [*settings.allowed_origins],
    )
    server = build_server(settings, oauth=oauth, state_keys=state_keys(env))
    if gate is not None:
        server.middleware.append(gate)
    app: Any = server.streamable_http_app(
        transport_security=security, host=host, max_request_body_size=MAX_REQUEST_BODY, stateless_http=stateless
    )
    app = ProtocolEdges(app, security, max_body=MAX_REQUEST_BODY)  # batches, unsupported version headers
    app = ForeignHostExplained(app)  # a 421 for a foreign Host names SCP_MCP_ALLOWED_HOSTS
    if oauth is not None:
        app = ResourceMetadataApp(app, oauth)
    elif token:
        app = BearerTokenMiddleware(app, token)
    return BrowserHosts(app, settings.allowed_origins) if settings.allowed_origins else app


def _announce(url: str, host: str, token: str | None, generated: bool, tls: bool, *, oauth: bool = False) -> None:

    lines = [f"scp-volume-mcp: streamable HTTP on {url}"]
    if oauth:
        lines.append("scp-volume-mcp: OAuth 2.1: clients send an access token from the configured issuer")
    elif token is None:
        lines.append(
            "scp-volume-mcp: --no-auth: no token is required, so any local user or program of this machine can "
            "list and resize volumes with these SCP keys."
        )
    elif generated:
        lines.append(f"scp-volume-mcp: generated a token for this run; clients send the header\n"
                     f"    Authorization: Bearer {token}\n"
                     f"(set {TOKEN_ENV} to choose one; --no-auth turns it off on loopback)")  # fmt: skip
    if not tls and not is_loopback_host(host):
        lines.append(
            "scp-volume-mcp: warning: no TLS; the token crosses the network in clear unless a TLS-terminating "
            "proxy is in front (or use --tls-certfile/--tls-keyfile)."
        )
    print("\n".join(lines), file=sys.stderr, flush=True)


def _say_where_the_trail_is(settings: ServerSettings) -> None:
    """Once at start, on stderr through logging (so `--log-format json` stays JSON): where the audit trail, and
    with it the memory of resizes that may still be under way, is kept; a warning when it is off."""
    if settings.database_url:
        return
    trail = str(settings.audit_log) if settings.audit_log else None
    notice = messages.trail_notice(trail, default=settings.audit_log_default)
    logging.getLogger(START_LOGGER).log(logging.INFO if trail else logging.WARNING, notice.removeprefix("warning: "))


def serve(
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    read_only: bool | None = None,
    confirmation: str | None = None,
    no_auth: bool = False,
    tls_certfile: str | None = None,
    tls_keyfile: str | None = None,
    stateless: bool = False,
) -> int:

    configure_from_env()
    if exposure := credentials_exposure():
        print(f"scp-volume-mcp: warning: {exposure}", file=sys.stderr, flush=True)
    gate = StopGate()
    try:
        settings = ServerSettings.from_env(read_only=read_only, confirmation=confirmation)
        _say_where_the_trail_is(settings)
        if transport == "stdio":
            server = build_server(settings)
            server.middleware.append(gate)

            say_if_terminal()  # a person, not a client, started it: say what it waits for
            run_stdio(server, gate, settings.shutdown_grace_s)
            return 0
        if bool(tls_certfile) != bool(tls_keyfile):
            raise SettingsError("--tls-certfile and --tls-keyfile go together.")
        oauth = oauth_settings(no_auth=no_auth)
        token, generated = (None, False) if oauth is not None else resolve_token(host, no_auth=no_auth)
        app = http_app(settings, host, port, token, oauth=oauth, stateless=stateless, gate=gate)
    except SettingsError as exc:
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 2
    stop = (gate, settings.shutdown_grace_s)
    return _run_http(app, host, port, token, generated, tls_certfile, tls_keyfile, stop, oauth=oauth is not None)


def _run_http(
    app: Any,
    host: str,
    port: int,
    token: str | None,
    generated: bool,
    certfile: str | None,
    keyfile: str | None,
    stop: tuple[StopGate, float],
    *,
    oauth: bool = False,
) -> int:
    # Keep-alive longer than clients' and proxies' idle timeouts (httpx's 5 s, nginx's 60 s): a server that
    # closes first races a request on a reused connection into a dropped connection.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None,
                            ssl_certfile=certfile, ssl_keyfile=keyfile, timeout_keep_alive=KEEP_ALIVE_S)  # fmt: skip
    server = graceful_server(config, *stop)
    url = f"{'https' if certfile else 'http'}://{url_host(host)}:{port}/mcp"

    async def run() -> None:
        # Announce only once the port is bound; a port in use says what to do.
        config.load()
        uvicorn_errors = logging.getLogger("uvicorn.error")
        uvicorn_errors.disabled = True  # uvicorn logs "[Errno 98] ..." before exiting: only our sentence shows
        try:
            sockets = [config.bind_socket()]
            sockets[0].listen(config.backlog)  # connections queue from now on, so the URL works once announced
        except SystemExit:
            raise SettingsError(
                f"cannot listen on {url_host(host)}:{port} (address in use?); choose another --port"
            ) from None
        finally:
            uvicorn_errors.disabled = False
        _announce(url, host, token, generated, bool(certfile), oauth=oauth)
        await server.serve(sockets=sockets)

    try:
        anyio.run(run)
    except SettingsError as exc:
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
        return 2
    return 0

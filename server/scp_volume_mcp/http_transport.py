"""`scp-volume-mcp serve`: the MCP server on stdio, or on streamable HTTP at /mcp (bearer token, Host checks).

Both stop gracefully on SIGTERM (or Ctrl+C): no new tool call is taken, those in flight get SCP_SHUTDOWN_GRACE
seconds to finish, the rest are cancelled (an extension then records `interrupted`), and the process exits 0.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from . import messages
from .logs import START_LOGGER
from .settings import ServerSettings, SettingsError

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

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
DRAIN_S = 2
"""On a stop, once no tool call is in flight and the event streams are told to end: how long the connections
may take to close before uvicorn cancels what still holds them."""
SETTLE_S = 10.0
"""On a stop, how long the tool calls cancelled past the grace may take to end: an extension reads the volume
back (at most `extend_operation.INTERRUPTED_READ_BACK_S`) and writes its outcome."""
STOPPING = "The server is stopping and takes no new tool calls; nothing was done. Call again once it is back."
STOPPED = (
    "The server stopped before this call finished (its SCP_SHUTDOWN_GRACE ran out): an extension recorded its "
    "outcome in the audit trail as interrupted, with what reading the volume back showed. Check the volume "
    "before calling again."
)


class StopGate:
    """The tool calls in flight, each in a cancel scope of its own, and whether a stop has begun. Added to the
    server's middleware, it wraps every `tools/call`; once the stop has begun it refuses new ones before anything
    is done, and past the grace it cancels those still running (anyio cancellation, which the extend operation
    survives long enough to record its outcome) and answers them with an error."""

    def __init__(self) -> None:
        self._running: set[Any] = set()
        """The cancel scopes of the tool calls running now."""
        self.began_at: float | None = None
        """When the stop began (`time.monotonic`), None while serving."""
        self.signal_name = "a signal"
        """The signal that began the stop, for its log line."""

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        if self.began_at is not None:
            raise _error(STOPPING)
        import anyio

        scope = anyio.CancelScope()
        self._running.add(scope)
        try:
            with scope:
                return await call_next(ctx)
        finally:
            self._running.discard(scope)
        raise _error(STOPPED)  # only the stop cancels this scope

    def begin(self, grace_s: float) -> None:
        """Refuse new tool calls from now on, saying so on stderr (once)."""
        if self.began_at is not None:
            return
        self.began_at = time.monotonic()
        _say(f"stopping ({self.signal_name}): no new tool calls; {self.in_flight} in flight, given up to "
             f"{grace_s:g} s to finish (SCP_SHUTDOWN_GRACE)")  # fmt: skip

    async def drain(self, grace_s: float, forced: Callable[[], bool]) -> int:
        """Wait until no tool call is in flight, at most `grace_s` after the stop began (less once `forced()`);
        then cancel those left and wait, at most `SETTLE_S`, until they have ended. Returns how many were
        cancelled."""
        import anyio

        deadline = (self.began_at or time.monotonic()) + grace_s
        while self._running and not forced() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls forced()
            await anyio.sleep(0.05)
        cancelled = len(self._running)
        for scope in list(self._running):
            scope.cancel()
        deadline = time.monotonic() + SETTLE_S
        while self._running and time.monotonic() < deadline:  # noqa: ASYNC110 - a bounded wait
            await anyio.sleep(0.05)
        return cancelled

    def ended(self, cancelled: int) -> None:
        """The stop's last line on stderr."""
        took = time.monotonic() - (self.began_at or time.monotonic())
        how = "every tool call finished" if not cancelled else (
            f"{cancelled} tool call(s) still running past the grace were cancelled (an extension records its "
            "outcome as interrupted)")  # fmt: skip
        _say(f"stopped after {took:.1f} s: {how}")


def _error(message: str) -> Exception:
    from mcp.shared.exceptions import MCPError
    from mcp.types import INTERNAL_ERROR

    return MCPError(INTERNAL_ERROR, message)


def _say(line: str) -> None:
    print(f"scp-volume-mcp: {line}", file=sys.stderr, flush=True)


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
    from .scp import is_loopback_host

    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "")
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{TOKEN_ENV} is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH} random characters "
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
    from .jwks import OAuthConfigError
    from .oauth import ISSUER_ENV, OAuthSettings

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
    token, or (`token` None, loopback only) nothing; `gate` (a graceful stop's) counts and refuses tool calls."""
    from mcp.server.transport_security import TransportSecuritySettings

    from .scp import url_host
    from .server import build_server

    env = os.environ if env is None else env
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"{url_host(host)}:{port}"]
    hosts += [h.strip() for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
    )
    server = build_server(settings, oauth=oauth, state_keys=state_keys(env))
    if gate is not None:
        server.middleware.append(gate)
    app = server.streamable_http_app(
        transport_security=security, host=host, max_request_body_size=MAX_REQUEST_BODY, stateless_http=stateless
    )
    if oauth is not None:
        from .oauth import ResourceMetadataApp

        return ResourceMetadataApp(app, oauth)
    return BearerTokenMiddleware(app, token) if token else app


def _announce(url: str, host: str, token: str | None, generated: bool, tls: bool, *, oauth: bool = False) -> None:
    from .scp import is_loopback_host

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
    from .scp import credentials_exposure
    from .tracing import configure_from_env

    configure_from_env()
    if exposure := credentials_exposure():
        print(f"scp-volume-mcp: warning: {exposure}", file=sys.stderr, flush=True)
    gate = StopGate()
    try:
        settings = ServerSettings.from_env(read_only=read_only, confirmation=confirmation)
        _say_where_the_trail_is(settings)
        if transport == "stdio":
            from .server import build_server

            server = build_server(settings)
            server.middleware.append(gate)
            _run_stdio(server, gate, settings.shutdown_grace_s)
            return 0
        if bool(tls_certfile) != bool(tls_keyfile):
            raise SettingsError("--tls-certfile and --tls-keyfile go together.")
        oauth = oauth_settings(no_auth=no_auth)
        token, generated = (None, False) if oauth is not None else resolve_token(host, no_auth=no_auth)
        app = http_app(settings, host, port, token, oauth=oauth, stateless=stateless, gate=gate)
    except SettingsError as exc:
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
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
    import uvicorn

    from .scp import url_host

    # Keep-alive longer than clients' and proxies' idle timeouts (httpx's 5 s, nginx's 60 s): a server that
    # closes first races a request on a reused connection into a dropped connection.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None,
                            ssl_certfile=certfile, ssl_keyfile=keyfile, timeout_keep_alive=KEEP_ALIVE_S)  # fmt: skip
    server = _graceful_server(config, *stop)
    url = f"{'https' if certfile else 'http'}://{url_host(host)}:{port}/mcp"

    async def run() -> None:
        # Announce only once the port is bound; a port in use says what to do.
        config.load()
        try:
            sockets = [config.bind_socket()]
            sockets[0].listen(config.backlog)  # connections queue from now on, so the URL works once announced
        except SystemExit:
            raise SettingsError(
                f"cannot listen on {url_host(host)}:{port} (address in use?); choose another --port"
            ) from None
        _announce(url, host, token, generated, bool(certfile), oauth=oauth)
        await server.serve(sockets=sockets)

    import anyio

    try:
        anyio.run(run)
    except SettingsError as exc:
        print(f"scp-volume-mcp: {exc}", file=sys.stderr)
        return 2
    return 0


def _graceful_server(config: Any, gate: StopGate, grace_s: float) -> Any:
    """uvicorn's server, stopping as `serve` should on SIGTERM or Ctrl+C (a second Ctrl+C hurries it)."""
    import uvicorn
    from sse_starlette.sse import AppStatus

    # The SDK's event streams (sse-starlette) would otherwise end at the signal itself, and with them the answers
    # of the calls still in flight; they are told to end once those calls are done (see `shutdown`).
    AppStatus.enable_automatic_graceful_drain = False

    class GracefulServer(uvicorn.Server):
        """On the signal: the listener closes (new connections are refused) and the gate refuses new tool calls
        on open ones; the tool calls in flight get `grace_s` to finish, then are cancelled (the gate's `drain`);
        the event streams are told to end, and uvicorn's own shutdown waits `DRAIN_S` at most for the
        connections, then ends the lifespan. Unlike uvicorn's, the signal is not raised again afterwards: the
        process exits 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if gate.began_at is None and not self.should_exit:
                gate.signal_name = signal.Signals(sig).name
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: Any = None) -> None:
            gate.begin(grace_s)
            for listener in self.servers:
                listener.close()
            cancelled = await gate.drain(grace_s, lambda: self.force_exit)
            AppStatus.should_exit = True  # every event stream ends now (sse-starlette polls it twice a second)
            self.config.timeout_graceful_shutdown = DRAIN_S
            await super().shutdown(sockets)
            gate.ended(cancelled)

    return GracefulServer(config)


class _StdinRelay:
    """The stdio server's input: a pipe that a daemon thread fills from fd 0. `end` gives the server the end of
    its input, as a client closing stdin would (the SDK then cancels what still runs and closes), while the
    thread may stay blocked reading fd 0, which the process does not wait for."""

    def __init__(self) -> None:
        read_fd, self._write_fd = os.pipe()
        self.stdin = io.TextIOWrapper(open(read_fd, "rb"), encoding="utf-8")  # noqa: SIM115 - the server's, for good
        """What the server reads instead of fd 0."""
        self._lock = threading.Lock()
        self._ended = False
        threading.Thread(target=self._copy, name="scp-volume-mcp stdin", daemon=True).start()

    def _copy(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(0, 65536):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._write_fd, view) :]
        self.end()

    def end(self) -> None:
        """The pipe's writing end becomes the null device: the server reads to the end of the pipe, then EOF."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._write_fd)  # the fd stays taken: a copy still under way goes nowhere, harmlessly
            os.close(null)


async def _serve_stdio(server: Any, gate: StopGate, relay: _StdinRelay, grace_s: float) -> None:
    """Serve until the client closes stdin, or until a stop (SIGTERM, Ctrl+C) has let the tool calls in flight
    finish (at most `grace_s`, less after a second Ctrl+C), cancelled the rest, and ended the input."""
    import anyio

    hurried: list[bool] = []
    cancelled: list[int] = []

    async def stop_on_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                async for sig in signals:
                    if gate.began_at is None:
                        gate.signal_name = signal.Signals(sig).name
                        gate.begin(grace_s)
                        tg.start_soon(drain)
                    elif sig == signal.SIGINT:
                        hurried.append(True)

    async def drain() -> None:
        cancelled.append(await gate.drain(grace_s, lambda: bool(hurried)))
        relay.end()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_on_signal)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()
    if gate.began_at is not None:
        gate.ended(cancelled[0] if cancelled else gate.in_flight)


def _run_stdio(server: Any, gate: StopGate, grace_s: float) -> None:
    """Serve on stdio; a client that goes away (closed stdin, broken pipe) ends the server quietly, and a
    SIGTERM stops it gracefully (see `_serve_stdio`)."""
    import anyio

    gone: tuple[type[BaseException], ...] = (
        BrokenPipeError,
        ConnectionResetError,
        anyio.ClosedResourceError,
        anyio.BrokenResourceError,
        KeyboardInterrupt,
    )
    relay = _StdinRelay()
    sys.stdin = relay.stdin  # read by the SDK's stdio transport (fd 0 is the relay's)
    try:
        anyio.run(_serve_stdio, server, gate, relay, grace_s)
    except gone:
        pass
    except BaseExceptionGroup as group:
        if group.split(gone)[1] is not None:  # something else went wrong too
            raise
    finally:
        # Python flushes stdout at exit; with the pipe gone that would print a traceback.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

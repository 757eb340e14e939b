"""Signed HTTP to the Virtual Server API: the endpoint, one keep-alive client, retries and spans.

One `httpx.AsyncClient` (keep-alive) per session. Reads are retried on 429/502/503/504 and transport failures
with capped exponential backoff and jitter, honouring `Retry-After`, each attempt signed afresh. Writes are
never retried here: the caller decides what an ambiguous failure means (see `ScpTransportError.sent`).
"""

from __future__ import annotations

import logging
import random
import time
from datetime import date
from typing import Any, Self

import anyio
import httpx
from opentelemetry import trace

from ._config import ScpConfig
from ._discovery import discover
from ._errors import (
    ScpHttpError,
    ScpInputError,
    ScpTimeoutError,
    ScpTransportError,
    connection_failure,
    error_from_response,
)
from ._models import volume_model
from ._platform import HEADER_API_VERSION
from ._signing import ScpAuth
from ._tracing import tracing_off
from ._versions import ApiVersionStatus, check_api_version, known_versions

logger = logging.getLogger("scp_volume_mcp.scp")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_READ_ATTEMPTS = 4
MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 10.0

_DISCOVERED: dict[tuple[str, str | None, str], str] = {}
"""Discovered endpoints, for the process: (auth URL, region, access key) -> Virtual Server URL."""


def backoff_delay(attempt: int, base_s: float, retry_after: float | None) -> float:
    """The pause before retry `attempt + 1`: the server's Retry-After (capped), else capped jittered doubling."""
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF_S * 4)
    ceiling = min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


_tracer = trace.get_tracer("scp_volume_mcp.scp")
"""A no-op unless an OpenTelemetry SDK is installed and configured (see scp_volume_mcp.tracing)."""
_ID_AFTER = {"volumes": "volume_id", "snapshots": "snapshot_id"}


def route_template(path: str) -> tuple[str, dict[str, str]]:
    """`/v1/volumes/<id>/size` -> `/v1/volumes/{volume_id}/size` and {"scp.volume_id": "<id>"}."""
    parts = path.split("/")
    ids: dict[str, str] = {}
    for index in range(1, len(parts)):
        name = _ID_AFTER.get(parts[index - 1])
        if name and parts[index] and parts[index] != "quota-sets":
            ids[f"scp.{name}"] = parts[index]
            parts[index] = "{" + name + "}"
    return "/".join(parts), ids


class SignedSession:
    """Signed HTTP to the Virtual Server API: the endpoint (discovered once when asked), one keep-alive
    `httpx.AsyncClient`, reads retried on throttling and gateway errors, a span per request. `ScpClient`
    adds the operations."""

    def __init__(
        self,
        config: ScpConfig,
        *,
        today: date | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        read_attempts: int = DEFAULT_READ_ATTEMPTS,
        backoff_s: float = 0.25,
    ) -> None:
        self.config = config
        self.api: ApiVersionStatus = check_api_version(config.api_version, today)
        if self.api.warning:
            logger.warning(self.api.warning)
        self._read_attempts = max(1, read_attempts)
        self._backoff_s = backoff_s
        self._endpoint = config.endpoint
        self._discovery_lock: anyio.Lock | None = None
        self._http = httpx.AsyncClient(
            base_url=config.endpoint or "",
            auth=ScpAuth(config.access_key, config.secret_key),
            headers={HEADER_API_VERSION: self.api.header, "Accept": "application/json"},
            timeout=httpx.Timeout(config.timeout_s, connect=min(CONNECT_TIMEOUT_S, config.timeout_s)),
            transport=transport,
            follow_redirects=False,
        )
        self._volume_model = volume_model(self.api.version)

    @property
    def endpoint(self) -> str | None:
        """The Virtual Server base URL in use; None until discovered (see `resolve_endpoint`)."""
        return self._endpoint

    async def resolve_endpoint(self) -> str:
        """The base URL, discovering it first when the configuration asks for discovery (once per process
        for one auth URL, region and key; concurrent first calls discover once). Raises `ScpDiscoveryError`."""
        if self._endpoint is not None:
            return self._endpoint
        if self._discovery_lock is None:
            self._discovery_lock = anyio.Lock()
        async with self._discovery_lock:
            if self._endpoint is None:
                auth_url = self.config.auth_url or ""
                key = (auth_url, self.config.region, self.config.access_key)
                url = _DISCOVERED.get(key) or await discover(self._http, auth_url, self.config.region)
                _DISCOVERED[key] = url
                self._http.base_url = httpx.URL(url)
                self._endpoint = url
                logger.info("Virtual Server endpoint discovered from %s/endpoints: %s", auth_url, url)
        return self._endpoint

    def _error(self, response: httpx.Response) -> ScpHttpError:
        """The typed error, naming SCP_API_VERSION when the platform refused the version header."""
        return error_from_response(response, api_version=self.api.version, known=known_versions())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, *, attempt: int = 1, **kwargs: Any) -> httpx.Response:
        """One request, in a span named for its route template (ids left out of the name, kept as attributes)."""
        if tracing_off():
            return await self._transmit(method, path, **kwargs)
        template, ids = route_template(path)
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "url.template": template,
            "scp.attempt": attempt,
            **ids,
        }
        with _tracer.start_as_current_span(f"SCP {method} {template}", attributes=attributes) as current:
            response = await self._transmit(method, path, **kwargs)
            current.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _transmit(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._endpoint is None:
            await self.resolve_endpoint()
        started = time.perf_counter()
        try:
            request = self._http.build_request(method, path, **kwargs)
        except httpx.InvalidURL:
            raise ScpInputError(
                f"The request {method} {path[:80]} cannot be built: a parameter is too long or invalid."
            ) from None
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            text = _timeout_text(f"{method} {path}", request.url, exc, self.config.timeout_s)
            raise ScpTimeoutError(text, method=method, sent=sent, reason="timeout") from None
        except httpx.TransportError as exc:
            if not isinstance(exc, httpx.ConnectError):
                message = f"SCP dropped the connection during {method} {path} ({type(exc).__name__})"
                raise ScpTransportError(message, method=method, sent=True) from None
            reason, why = connection_failure(exc, request.url.host, request.url.port)
            message = f"SCP could not be reached during {method} {path}: {why}"
            raise ScpTransportError(message, method=method, sent=False, reason=reason) from None
        logger.debug(
            "%s %s -> %d in %.1f ms",
            method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _read(
        self, path: str, params: dict[str, str | int] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """A GET, retried on throttling, gateway errors and transport failures."""
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._read_attempts
            try:
                response = await self._send("GET", path, attempt=attempt, params=params, headers=headers)
            except ScpTransportError:
                if last:
                    raise
                await anyio.sleep(backoff_delay(attempt, self._backoff_s, None))
                continue
            if response.status_code < 400:
                return response
            error = self._error(response)
            if last or response.status_code not in RETRYABLE_STATUSES:
                raise error
            delay = backoff_delay(attempt, self._backoff_s, error.retry_after)
            logger.info("GET %s answered %d; retrying in %.2f s", path, response.status_code, delay)
            await anyio.sleep(delay)


def _timeout_text(what: str, url: httpx.URL, exc: httpx.TimeoutException, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        host = f"{url.host}:{url.port}" if url.port else url.host
        waited = min(CONNECT_TIMEOUT_S, timeout_s)
        return f"SCP could not be reached during {what}: connecting to {host} timed out after {waited:g} s"
    return f"SCP did not answer {what} within {timeout_s:g} s"

"""The SCP Virtual Server client: the volume operations this product needs, nothing else.

One `httpx.AsyncClient` (keep-alive) per `ScpClient`; create one per process. Reads are retried on
429/502/503/504 and transport failures with capped exponential backoff and jitter, honouring
`Retry-After`, each attempt signed afresh. Writes are never retried here: the caller decides what
an ambiguous failure means (see `ScpTransportError.sent`).
"""

from __future__ import annotations

import logging
import random
import re
import time
from datetime import date
from typing import Any, NamedTuple, Self, TypeVar
from urllib.parse import quote

import anyio
import httpx
from opentelemetry import trace
from pydantic import ValidationError

from ._config import ScpConfig
from ._discovery import discover
from ._errors import (
    ScpHttpError,
    ScpInputError,
    ScpResponseError,
    ScpTimeoutError,
    ScpTransportError,
    connection_failure,
    error_from_response,
    request_id_of,
)
from ._models import (
    SNAPSHOT_API_VERSION,
    SNAPSHOT_NAME_MAX,
    SNAPSHOT_NAME_PATTERN,
    Snapshot,
    VolumeQuotaSet,
    VolumeShowResponse,
    volume_model,
)
from ._platform import (
    API_SERVICE,
    EXAMPLE_VOLUME_ID,
    HEADER_API_VERSION,
    LIST_PAGE_SIZE,
    LIST_PAGE_SIZE_MAX,
    MIN_VOLUME_SIZE_GB,
    SIZE_STEP_GB,
    is_volume_id,
)
from ._signing import ScpAuth
from ._versions import ApiVersionStatus, check_api_version, known_versions

logger = logging.getLogger("scp_volume_mcp.scp")

_M = TypeVar("_M", VolumeShowResponse, VolumeQuotaSet, Snapshot)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_READ_ATTEMPTS = 4
MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 10.0

_DISCOVERED: dict[tuple[str, str | None, str], str] = {}
"""Discovered endpoints, for the process: (auth URL, region, access key) -> Virtual Server URL."""


class ExtendAccepted(NamedTuple):
    """The platform's answer to a resize: the volume as it answered, the status it answered with (202 as
    documented) and its request id when it gave one."""

    volume: VolumeShowResponse
    status: int
    request_id: str | None


class Probe(NamedTuple):
    """What one harmless signed read showed: the status, the server's clock and, when refused, why."""

    status: int
    date_header: str | None
    error: ScpHttpError | None


def backoff_delay(attempt: int, base_s: float, retry_after: float | None) -> float:
    """The pause before retry `attempt + 1`: the server's Retry-After (capped), else capped jittered doubling."""
    if retry_after is not None:
        return min(retry_after, MAX_BACKOFF_S * 4)
    ceiling = min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _check_size(size_gb: int) -> None:
    if isinstance(size_gb, bool) or not isinstance(size_gb, int):
        raise ScpInputError("The new size must be an integer number of GB.")
    if size_gb < MIN_VOLUME_SIZE_GB or size_gb % SIZE_STEP_GB:
        raise ScpInputError(f"The new size must be at least {MIN_VOLUME_SIZE_GB} GB and a multiple of {SIZE_STEP_GB}.")


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


def volume_path(volume_id: str) -> str:
    """`/v1/volumes/{id}`, refusing anything that is not a canonical UUID before a URL exists."""
    if not is_volume_id(volume_id):
        raise ScpInputError(f"A volume id is a UUID such as {EXAMPLE_VOLUME_ID}.")
    return f"/v1/volumes/{quote(volume_id, safe='')}"


def snapshot_path(snapshot_id: str) -> str:
    """`/v1/snapshots/{id}`: snapshot ids are UUIDs too, refused otherwise before a URL exists."""
    if not is_volume_id(snapshot_id):
        raise ScpInputError("A snapshot id is a UUID.")
    return f"/v1/snapshots/{quote(snapshot_id, safe='')}"


_SNAPSHOT_NAME_RE = re.compile(SNAPSHOT_NAME_PATTERN.replace("$", r"\Z"))
_SNAPSHOT_HEADERS = {HEADER_API_VERSION: f"{API_SERVICE} {SNAPSHOT_API_VERSION}"}


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


class ScpClient(SignedSession):
    """Signed, typed access to the volume part of the SCP Virtual Server API."""

    def __repr__(self) -> str:
        return f"ScpClient(endpoint={self._endpoint!r}, api_version={self.api.version!r})"

    # --- operations -----------------------------------------------------------------------------

    async def show_volume(self, volume_id: str) -> VolumeShowResponse:
        response = await self._read(volume_path(volume_id))
        return _parse(response, self._volume_model)

    async def list_volumes(
        self,
        *,
        name: str | None = None,
        state: str | None = None,
        page_size: int = LIST_PAGE_SIZE,
        max_items: int | None = None,
    ) -> list[VolumeShowResponse]:
        """Every matching volume, following `marker` pages until a short page (or `max_items`)."""
        page_size = max(1, min(page_size, LIST_PAGE_SIZE_MAX, max_items or LIST_PAGE_SIZE_MAX))
        volumes: list[VolumeShowResponse] = []
        marker: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if marker:
                params["marker"] = marker
            if name:
                params["name"] = name
            if state:
                params["state"] = state
            response = await self._read("/v1/volumes", params=params)
            page = _parse_list(response, self._volume_model)
            volumes.extend(page)
            if max_items is not None and len(volumes) >= max_items:
                return volumes[:max_items]
            if len(page) < page_size or page[-1].id == marker:
                return volumes
            marker = page[-1].id

    async def show_volume_quota_set(self) -> VolumeQuotaSet:
        response = await self._read("/v1/volumes/quota-sets")
        return _parse(response, VolumeQuotaSet)

    async def extend_volume(self, volume_id: str, size_gb: int) -> ExtendAccepted:
        """Send `PUT /v1/volumes/{id}/size` once. Never retried: see `ScpTransportError.sent`."""
        _check_size(size_gb)
        response = await self._send("PUT", volume_path(volume_id) + "/size", json={"size": size_gb})
        if response.status_code >= 400:
            raise self._error(response)
        volume = _parse(response, self._volume_model)
        return ExtendAccepted(volume, response.status_code, request_id_of(response))

    # --- snapshots (the way back after an extension) --------------------------------------------

    async def create_snapshot(
        self, volume_id: str, name: str, *, force: bool = False, description: str | None = None
    ) -> Snapshot:
        """Send `POST /v1/snapshots` once. Never retried: after an ambiguous failure the caller looks for
        the snapshot by its name (see `list_snapshots`) instead of sending again."""
        if not _SNAPSHOT_NAME_RE.match(name) or len(name) > SNAPSHOT_NAME_MAX:
            raise ScpInputError(f"A snapshot name matches {SNAPSHOT_NAME_PATTERN} and has at most {SNAPSHOT_NAME_MAX}.")
        volume_path(volume_id)  # the same check of the id as every volume call
        body: dict[str, Any] = {"name": name, "volume_id": volume_id, "force": force}
        if description:
            body["description"] = description
        response = await self._send("POST", "/v1/snapshots", json=body, headers=_SNAPSHOT_HEADERS)
        if response.status_code >= 400:
            raise error_from_response(response)
        return _parse(response, Snapshot)

    async def list_snapshots(self, volume_id: str, *, name: str | None = None, limit: int = 20) -> list[Snapshot]:
        """The volume's snapshots, newest first (the platform's default sort, enforced here as well)."""
        volume_path(volume_id)
        params: dict[str, str | int] = {"volume_id": volume_id, "limit": max(1, min(limit, LIST_PAGE_SIZE_MAX))}
        if name:
            params["name"] = name
        response = await self._read("/v1/snapshots", params=params, headers=_SNAPSHOT_HEADERS)
        body = _json(response)
        items = body.get("snapshots") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ScpResponseError(
                "SCP answered the snapshot list without a `snapshots` array", status=response.status_code
            )
        try:
            snapshots = [Snapshot.model_validate(item) for item in items]
        except ValidationError:
            raise ScpResponseError(
                "SCP answered the snapshot list with an entry that is not a snapshot", status=response.status_code
            ) from None
        # The filter is the platform's; a snapshot of another volume is never taken for this one's.
        mine = [s for s in snapshots if s.volume_id in (None, volume_id) and (not name or s.name == name)]
        return sorted(mine, key=lambda s: s.created_at or "", reverse=True)

    async def show_snapshot(self, snapshot_id: str) -> Snapshot:
        response = await self._read(snapshot_path(snapshot_id), headers=_SNAPSHOT_HEADERS)
        return _parse(response, Snapshot)

    async def probe(self) -> Probe:
        """One signed, harmless GET (a one-item volume list), for diagnostics; never retried."""
        response = await self._send("GET", "/v1/volumes", params={"limit": 1})
        error = self._error(response) if response.status_code >= 400 else None
        return Probe(response.status_code, response.headers.get("date"), error)

    # --- plumbing -------------------------------------------------------------------------------


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ScpResponseError(
            f"SCP answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
            request_id=request_id_of(response),
        ) from None


def _parse(response: httpx.Response, model: type[_M]) -> _M:
    body = _json(response)
    try:
        return model.model_validate(body)
    except ValidationError:
        raise ScpResponseError(
            f"SCP answered {response.status_code} with a body that is not a {model.__name__}",
            status=response.status_code,
            request_id=request_id_of(response, body),
        ) from None


def _parse_list(response: httpx.Response, model: type[VolumeShowResponse]) -> list[VolumeShowResponse]:
    body = _json(response)
    items = body.get("volumes") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ScpResponseError("SCP answered the volume list without a `volumes` array", status=response.status_code)
    try:
        return [model.model_validate(item) for item in items]
    except ValidationError:
        raise ScpResponseError(
            "SCP answered the volume list with an entry that is not a volume", status=response.status_code
        ) from None

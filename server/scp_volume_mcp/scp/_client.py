"""The SCP Virtual Server client: the volume operations this product needs, nothing else.

Create one `ScpClient` per process: it holds one keep-alive connection pool (see `_session.SignedSession`
for the signing, the retries of reads and the spans). Writes are never retried here: the caller decides
what an ambiguous failure means (see `ScpTransportError.sent`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, NamedTuple, TypeVar

import httpx
from pydantic import ValidationError

from ._errors import ScpHttpError, ScpInputError, ScpResponseError, error_from_response, request_id_of
from ._models import (
    SNAPSHOT_API_VERSION,
    SNAPSHOT_NAME_MAX,
    SNAPSHOT_NAME_PATTERN,
    Snapshot,
    VolumeQuotaSet,
    VolumeShowResponse,
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
from ._session import SignedSession

_M = TypeVar("_M", VolumeShowResponse, VolumeQuotaSet, Snapshot)


class ResizeAccepted(NamedTuple):
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


def _check_size(size_gb: int) -> None:
    if isinstance(size_gb, bool) or not isinstance(size_gb, int):
        raise ScpInputError("The new size must be an integer number of GB.")
    if size_gb < MIN_VOLUME_SIZE_GB or size_gb % SIZE_STEP_GB:
        raise ScpInputError(f"The new size must be at least {MIN_VOLUME_SIZE_GB} GB and a multiple of {SIZE_STEP_GB}.")


def volume_path(volume_id: str) -> str:
    """`/v1/volumes/{id}`, refusing anything that is not a canonical UUID before a URL exists."""
    if not is_volume_id(volume_id):
        raise ScpInputError(f"A volume id is a UUID such as {EXAMPLE_VOLUME_ID}.")
    return f"/v1/volumes/{volume_id}"  # hex digits and hyphens only: nothing to escape


def snapshot_path(snapshot_id: str) -> str:
    """`/v1/snapshots/{id}`: snapshot ids are UUIDs too, refused otherwise before a URL exists."""
    if not is_volume_id(snapshot_id):
        raise ScpInputError("A snapshot id is a UUID.")
    return f"/v1/snapshots/{snapshot_id}"


_SNAPSHOT_NAME_RE = re.compile(SNAPSHOT_NAME_PATTERN.replace("$", r"\Z"))
_SNAPSHOT_HEADERS = {HEADER_API_VERSION: f"{API_SERVICE} {SNAPSHOT_API_VERSION}"}


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
        """Every matching volume (at most `max_items`), following `marker` pages: see `iter_volumes`."""
        return [v async for v in self.iter_volumes(name=name, state=state, page_size=page_size, max_items=max_items)]

    async def iter_volumes(
        self,
        *,
        name: str | None = None,
        state: str | None = None,
        page_size: int = LIST_PAGE_SIZE,
        max_items: int | None = None,
    ) -> AsyncIterator[VolumeShowResponse]:
        """The matching volumes, one page in memory at a time. `name` and `state` are the platform's own filters
        (sent, not applied here); pages follow `marker` until a short page, and stop at `max_items`: a page
        never asks for more than are still wanted (20 wanted: one request for 20)."""
        wanted = max_items  # None: all of them
        marker: str | None = None
        while wanted is None or wanted > 0:
            size = min(LIST_PAGE_SIZE_MAX, max(1, page_size if wanted is None else wanted))
            params: dict[str, str | int] = {"limit": size}
            if marker:
                params["marker"] = marker
            if name:
                params["name"] = name
            if state:
                params["state"] = state
            page = _parse_list(await self._read("/v1/volumes", params=params), self._volume_model)
            for volume in page[:wanted]:
                yield volume
            if wanted is not None:
                wanted -= min(wanted, len(page))
            if len(page) < size or page[-1].id == marker:
                return
            marker = page[-1].id
            del page  # not alive while the next one is read and parsed

    async def show_volume_quota_set(self) -> VolumeQuotaSet:
        response = await self._read("/v1/volumes/quota-sets")
        return _parse(response, VolumeQuotaSet)

    async def resize_volume(self, volume_id: str, size_gb: int) -> ResizeAccepted:
        """Send `PUT /v1/volumes/{id}/size` once. Never retried: see `ScpTransportError.sent`."""
        _check_size(size_gb)
        response = await self._send("PUT", volume_path(volume_id) + "/size", json={"size": size_gb})
        if response.status_code >= 400:
            raise self._error(response)
        volume = _parse(response, self._volume_model)
        return ResizeAccepted(volume, response.status_code, request_id_of(response))

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
    try:  # straight from the bytes: a third of the time of decoding to Python objects first
        return model.model_validate_json(response.content)
    except ValidationError:
        pass
    body = _json(response)  # not JSON (or not UTF-8 JSON): said so; else what is wrong with it, judged as before
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

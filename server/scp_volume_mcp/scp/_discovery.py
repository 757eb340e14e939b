"""Endpoint discovery as Samsung's Go SDK does it (`client/catalog.go`): a signed `GET {auth-url}/endpoints`,
keep the entries of the service's `service_type`; one left is used whatever its region, otherwise the
configured region's. The answer is untrusted: messages quote it only in short, bounded pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ._config import check_endpoint
from ._errors import ScpConfigError, connection_failure, error_from_response
from ._platform import HEADER_API_VERSION

if TYPE_CHECKING:
    import httpx

SERVICE_TYPE = "scp-virtualserver"
"""The Virtual Server's `service_type` in the endpoint catalog."""
_MAX_SHOWN = 8
_MAX_TEXT = 40


class ScpDiscoveryError(ScpConfigError):
    """The Virtual Server endpoint could not be discovered from the auth URL. Nothing else was sent."""


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _listing(values: list[str]) -> str:
    unique = sorted({_short(v) for v in values})
    more = f" and {len(unique) - _MAX_SHOWN} more" if len(unique) > _MAX_SHOWN else ""
    return ", ".join(unique[:_MAX_SHOWN]) + more if unique else "none"


def choose_endpoint(body: Any, region: str | None, asked: str) -> str:
    """The Virtual Server URL from an endpoint catalog answer, or `ScpDiscoveryError` saying why not."""
    entries = body.get("endpoints") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ScpDiscoveryError(f"Endpoint discovery: {asked} answered 200 without an `endpoints` list.")
    entries = [e for e in entries if isinstance(e, dict)]
    mine = [e for e in entries if e.get("service_type") == SERVICE_TYPE]
    if not mine:
        types = [str(e.get("service_type")) for e in entries]
        raise ScpDiscoveryError(
            f"Endpoint discovery: {asked} listed {len(entries)} endpoint(s), none of service type {SERVICE_TYPE} "
            f"(service types found: {_listing(types)}). Set SCP_ENDPOINT to the Virtual Server URL."
        )
    if len(mine) > 1:
        regions = [str(e.get("region")) for e in mine]
        if not region:
            raise ScpDiscoveryError(
                f"Endpoint discovery: {asked} listed {len(mine)} {SERVICE_TYPE} endpoints "
                f"(regions found: {_listing(regions)}) and no region is set. Set SCP_REGION to one of them."
            )
        mine = [e for e in mine if e.get("region") == region]
        if not mine:
            raise ScpDiscoveryError(
                f"Endpoint discovery: {asked} listed no {SERVICE_TYPE} endpoint for region {_short(region)} "
                f"(regions found: {_listing(regions)}). Set SCP_REGION to one of them, or SCP_ENDPOINT."
            )
    url = mine[0].get("url")
    if not isinstance(url, str) or not url:
        raise ScpDiscoveryError(f"Endpoint discovery: {asked} listed a {SERVICE_TYPE} endpoint without a url.")
    return url


async def discover(http: httpx.AsyncClient, auth_url: str, region: str | None) -> str:
    """The Virtual Server URL from a signed `GET {auth_url}/endpoints` (the client's signing, without its
    API-version header). Raises `ScpDiscoveryError` saying what was asked and what came back."""

    asked = f"GET {auth_url}/endpoints"
    request = http.build_request("GET", f"{auth_url}/endpoints")
    del request.headers[HEADER_API_VERSION]  # the catalog is IAM's, not the Virtual Server's
    try:
        response = await http.send(request)
    except httpx.ConnectError as exc:
        why = connection_failure(exc, request.url.host, request.url.port)[1]
        raise ScpDiscoveryError(f"Endpoint discovery: {asked} got no answer: {why}.") from None
    except httpx.TransportError as exc:
        raise ScpDiscoveryError(f"Endpoint discovery: {asked} got no answer ({type(exc).__name__}).") from None
    if response.status_code >= 400:
        error = error_from_response(response)
        raise ScpDiscoveryError(
            f"Endpoint discovery: {asked} answered {response.status_code}: {error.detail[:200]}. {error.hint}"
        )
    try:
        body = response.json()
    except ValueError:
        raise ScpDiscoveryError(f"Endpoint discovery: {asked} answered 200 with a body that is not JSON.") from None
    url = choose_endpoint(body, region, asked)
    try:
        return check_endpoint(url, "The discovered endpoint")
    except ScpConfigError as exc:
        refused = f"Endpoint discovery: {asked} gave an endpoint this server will not use. {exc}"
        raise ScpDiscoveryError(refused) from None

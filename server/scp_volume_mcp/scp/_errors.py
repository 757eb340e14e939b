"""Typed SCP errors, carrying the platform's own detail text and request id.

Error bodies are read in the shapes seen in the wild (`{"errors": [{"detail": ...}]}`, `message`,
`title`, `code`, `request_id`) and degrade to the raw text. No error ever carries a credential:
messages are built from the status, the platform's text and our own words only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

_MAX_DETAIL = 500
_REQUEST_ID_HEADERS = ("x-request-id", "x-scp-request-id", "request-id", "x-trace-id")


class ScpError(Exception):
    """Base of every error raised by the SCP client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ScpConfigError(ScpError):
    """The client cannot be configured: missing credentials, bad endpoint, retired API version."""


class ScpInputError(ScpError, ValueError):
    """An argument was refused before any request was built (for example a volume id that is no UUID)."""


class ScpTransportError(ScpError):
    """The request may or may not have reached the platform: connection failure or dropped connection."""

    def __init__(self, message: str, *, method: str, sent: bool) -> None:
        super().__init__(message)
        self.method = method
        self.sent = sent
        """False only when the connection was never established (nothing reached the platform)."""


class ScpTimeoutError(ScpTransportError):
    """No answer in time. `sent` tells whether the request may have reached the platform."""


class ScpResponseError(ScpError):
    """The platform answered with a success status but a body that is not what the API documents."""

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class ScpHttpError(ScpError):
    """The platform answered with an error status."""

    status: int = 0
    hint: str = ""

    def __init__(
        self,
        *,
        status: int,
        detail: str,
        request_id: str | None = None,
        date_header: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.request_id = request_id
        self.date_header = date_header
        self.retry_after = retry_after
        text = f"SCP answered {status}: {detail}"
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text)


class ScpBadRequest(ScpHttpError):
    hint = "The platform refused the request as invalid; its detail says why."


class ScpUnauthorized(ScpHttpError):
    hint = "Check the access key and secret key, and that this machine's clock is correct."


class ScpForbidden(ScpHttpError):
    hint = "The key pair is valid but lacks permission for this operation."


class ScpNotFound(ScpHttpError):
    hint = "No such volume in this account and region."


class ScpConflict(ScpHttpError):
    hint = "The volume is busy or in a state that forbids this change; check its state and try again later."


class ScpRateLimited(ScpHttpError):
    hint = "Too many requests; wait and try again."


class ScpServerError(ScpHttpError):
    hint = "The platform failed; try again later."


_BY_STATUS: dict[int, type[ScpHttpError]] = {
    400: ScpBadRequest,
    401: ScpUnauthorized,
    403: ScpForbidden,
    404: ScpNotFound,
    409: ScpConflict,
    429: ScpRateLimited,
}


def request_id_of(response: httpx.Response, body: Any = None) -> str | None:
    """The platform's request id, from the error body or a response header."""
    for item in _error_items(body):
        value = item.get("request_id") or item.get("requestId")
        if isinstance(value, str) and value:
            return value
    if isinstance(body, dict):
        value = body.get("request_id") or body.get("requestId")
        if isinstance(value, str) and value:
            return value
    for header in _REQUEST_ID_HEADERS:
        if header in response.headers:
            return response.headers[header]
    return None


def _error_items(body: Any) -> Iterable[dict[str, Any]]:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return [e for e in errors if isinstance(e, dict)]
        if isinstance(errors, dict):
            return [errors]
    return []


def _detail_of(body: Any, raw_text: str, reason: str) -> str:
    parts: list[str] = []
    for item in _error_items(body):
        detail = item.get("detail") or item.get("message") or item.get("title") or item.get("code")
        if isinstance(detail, list):
            parts.extend(str(d) for d in detail if d)
        elif detail:
            parts.append(str(detail))
    if not parts and isinstance(body, dict):
        for key in ("detail", "message", "title", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                parts.append(value)
                break
    text = "; ".join(parts) if parts else (" ".join(raw_text.split()) or reason or "no detail given")
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> ScpHttpError:
    """Build the typed error for an error response (status >= 400)."""
    raw = response.text
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    status = response.status_code
    cls = _BY_STATUS.get(status, ScpServerError if status >= 500 else ScpHttpError)
    return cls(
        status=status,
        detail=_detail_of(body, raw, response.reason_phrase),
        request_id=request_id_of(response, body),
        date_header=response.headers.get("date"),
        retry_after=_retry_after(response),
    )

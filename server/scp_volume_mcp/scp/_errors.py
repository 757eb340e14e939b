"""Typed SCP errors, carrying the platform's own detail text and request id.

The exception hierarchy:

* ScpError: the base of every error the SCP client raises
  x ScpConfigError: the client cannot be configured; `fix` says how to correct it
    + ScpDiscoveryError: no endpoint found from the auth URL (defined in `_discovery`)
  x ScpInputError: an argument refused before any request was built (also a `ValueError`)
  x ScpTransportError: no answer; `sent` says whether the request may have reached the platform
    + ScpTimeoutError: no answer in time
  x ScpResponseError: a success status with a body the API does not document
  x ScpHttpError: an error status (this class itself for a 4xx that has none of its own)
    + ScpBadRequest: 400, the request is invalid
    + ScpUnauthorized: 401, wrong keys, signature or clock
    + ScpForbidden: 403, valid keys without the permission
    + ScpNotFound: 404, no such volume
    + ScpConflict: 409, the volume is busy or in a state that forbids the change
    + ScpRateLimited: 429, too many requests
    + ScpServerError: 5xx, the platform failed
    + ScpVersionRejected: the `Scp-Api-Version` header refused (seen as 406 NoSuchVersion)

Error bodies are read in the shapes seen in the wild and degrade to the raw text:
- the shape recorded from the platform: `{"errors": [{"code", "title", "detail" (text or a list), "status",
  "request_id", "global_request_id", ...}]}`;
- the other SCP shape: `{"timestamp", "path", "error", "message"?, "requestId"}`.

No error ever carries a credential: messages are built from the status, the platform's text and our own
words only.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

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

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        """One concrete fix, for `doctor`'s "fix:" line (None: the message itself says what to do)."""


class ScpInputError(ScpError, ValueError):
    """An argument was refused before any request was built (for example a volume id that is no UUID)."""


ConnectionFailure = Literal["refused", "name", "tls", "timeout", "connect", "dropped"]
"""Why a request got no answer: connection refused, name not resolved, TLS handshake failed, timed out,
another connection failure, or a connection dropped after the request may have left."""


class ScpTransportError(ScpError):
    """The request may or may not have reached the platform: connection failure or dropped connection."""

    def __init__(self, message: str, *, method: str, sent: bool, reason: ConnectionFailure | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.sent = sent
        """False only when the connection was never established (nothing reached the platform)."""
        self.reason: ConnectionFailure = reason or ("dropped" if sent else "connect")


class ScpTimeoutError(ScpTransportError):
    """No answer in time. `sent` tells whether the request may have reached the platform."""


def connection_failure(exc: BaseException, host: str, port: int | None) -> tuple[ConnectionFailure, str]:
    """Why a connection could not be made, read from the OS error under httpx's `ConnectError`, in words:
    `("refused", "connection refused by 127.0.0.1:9 (nothing listens on that port)")`."""
    address = f"{host}:{port}" if port else host
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or "the certificate is not trusted"
            return "tls", f"the TLS handshake with {address} failed: {why}"
        if isinstance(cause, ssl.SSLError):
            return "tls", f"the TLS handshake with {address} failed ({cause.reason or type(cause).__name__})"
        if isinstance(cause, socket.gaierror):
            return "name", f"the name {host} could not be resolved (DNS)"
        if isinstance(cause, ConnectionRefusedError):
            return "refused", f"connection refused by {address} (nothing listens on that port)"
        cause = cause.__cause__ or cause.__context__
    return "connect", f"no connection to {address} ({type(exc).__name__})"


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
        code: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.code = code
        """The platform's error code (e.g. `ValidationError`, `NoSuchVersion`), when it gave one."""
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


class ScpVersionRejected(ScpHttpError):
    """The platform refused the `Scp-Api-Version` header (seen as `406 NoSuchVersion`): the version this
    server sends may have been retired after this server was built."""

    hint = "Set SCP_API_VERSION to a version the platform accepts."

    def __init__(self, *, sent: str, known: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent = sent
        self.message = (
            f"SCP refused the API version (HTTP {self.status}: {self.detail}). This server sent "
            f"SCP_API_VERSION={sent} (header `Scp-Api-Version: virtualserver {sent}`) and knows versions {known}; "
            "the platform may have retired it since. Set SCP_API_VERSION to a version the platform lists as "
            "current or supported" + (f" (request id {self.request_id})." if self.request_id else ".")
        )
        self.args = (self.message,)


_BY_STATUS: dict[int, type[ScpHttpError]] = {
    400: ScpBadRequest,
    401: ScpUnauthorized,
    403: ScpForbidden,
    404: ScpNotFound,
    409: ScpConflict,
    429: ScpRateLimited,
}


_MAX_ID = 128
_ID_KEYS = ("request_id", "requestId", "global_request_id", "globalRequestId")


def _bounded(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_id_of(response: httpx.Response, body: Any = None) -> str | None:
    """The platform's request id, from the error body or a response header."""
    for holder in [*_error_items(body), *([body] if isinstance(body, dict) else [])]:
        for key in _ID_KEYS:
            value = holder.get(key)
            if isinstance(value, str) and value:
                return _bounded(value, _MAX_ID)
    for header in _REQUEST_ID_HEADERS:
        if header in response.headers:
            return _bounded(response.headers[header], _MAX_ID)
    return None


def _error_items(body: Any) -> Iterable[dict[str, Any]]:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return [e for e in errors if isinstance(e, dict)]
        if isinstance(errors, dict):
            return [errors]
    return []


def _texts(value: Any) -> list[str]:
    """Text from a `detail`: a string, or a list of strings or of objects (`msg`, `message`, `detail`)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        out: list[str] = []
        for item in value[:20]:
            if isinstance(item, dict):
                text = item.get("msg") or item.get("message") or item.get("detail")
                if isinstance(text, str) and text.strip():
                    where = item.get("loc")
                    if isinstance(where, list) and where:
                        text = f"{'.'.join(str(w) for w in where[-2:])}: {text}"
                    out.append(text)
            elif isinstance(item, str | int | float) and str(item).strip():
                out.append(str(item))
        return out
    return []


def _detail_of(body: Any, raw_text: str, reason: str) -> str:
    parts: list[str] = []
    for item in _error_items(body):
        texts = _texts(item.get("detail")) or _texts(item.get("message"))
        title = item.get("title") or item.get("code")
        if not texts and isinstance(title, str) and title:
            texts = [title]
        parts.extend(texts)
    if not parts and isinstance(body, dict):
        for key in ("detail", "message", "title", "error_description", "error"):
            texts = _texts(body.get(key))
            if texts:
                parts.extend(texts)
                break
    text = "; ".join(parts) if parts else (" ".join(raw_text.split()) or reason or "no detail given")
    return _bounded(text, _MAX_DETAIL)


def _code_of(body: Any) -> str | None:
    for item in _error_items(body):
        for key in ("code", "title"):
            value = item.get(key)
            if isinstance(value, str) and value:
                return _bounded(value, 64)
    if isinstance(body, dict):
        value = body.get("code") or body.get("error")
        if isinstance(value, str) and value:
            return _bounded(value, 64)
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def is_version_rejection(status: int, code: str | None, detail: str, sent: str) -> bool:
    """A 400 or 406 that refuses the version header: code `NoSuchVersion` (or another code about the
    version), or a detail that speaks of the version and names the one sent."""
    if status not in (400, 406):
        return False
    if code and "version" in code.lower():
        return True
    lowered = detail.lower()
    return "version" in lowered and sent in lowered


def error_from_response(response: httpx.Response, *, api_version: str | None = None, known: str = "") -> ScpHttpError:
    """Build the typed error for an error response (status >= 400). With `api_version` (the version sent),
    a refusal of the version header becomes `ScpVersionRejected`."""
    raw = response.text
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    status = response.status_code
    detail = _detail_of(body, raw, response.reason_phrase)
    code = _code_of(body)
    fields: dict[str, Any] = {
        "status": status,
        "detail": detail,
        "request_id": request_id_of(response, body),
        "date_header": response.headers.get("date"),
        "retry_after": _retry_after(response),
        "code": code,
    }
    if api_version is not None and is_version_rejection(status, code, detail, api_version):
        return ScpVersionRejected(sent=api_version, known=known, **fields)
    cls = _BY_STATUS.get(status, ScpServerError if status >= 500 else ScpHttpError)
    return cls(**fields)

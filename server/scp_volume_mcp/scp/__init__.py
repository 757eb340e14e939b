"""The SCP v2 Virtual Server client: signing, configuration, API versions, models and errors.

This package knows nothing about MCP. Its implementation lives in private modules; this is the
curated public surface (pinned by tests/test_packaging.py). The parts that need httpx (the client,
signing, reading error responses) load on first use, so a server that only lists its tools never
imports httpx.
"""

from typing import TYPE_CHECKING, Any

from ._config import ScpConfig, check_endpoint, is_loopback_host, load_config
from ._errors import (
    ScpBadRequest,
    ScpConfigError,
    ScpConflict,
    ScpError,
    ScpForbidden,
    ScpHttpError,
    ScpInputError,
    ScpNotFound,
    ScpRateLimited,
    ScpResponseError,
    ScpServerError,
    ScpTimeoutError,
    ScpTransportError,
    ScpUnauthorized,
)
from ._models import (
    QuotaSetObject,
    Volume,
    VolumeQuotaSet,
    VolumeServer,
    VolumeShowResponse,
    VolumeShowResponseV1Dot2,
    volume_model,
)
from ._versions import ApiVersionStatus, check_api_version

if TYPE_CHECKING:
    from ._client import ExtendAccepted, ScpClient, volume_path
    from ._errors import error_from_response
    from ._signing import ScpAuth, signature

_LAZY = {
    "ExtendAccepted": "._client",
    "ScpClient": "._client",
    "volume_path": "._client",
    "error_from_response": "._errors",
    "ScpAuth": "._signing",
    "signature": "._signing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiVersionStatus",
    "ExtendAccepted",
    "QuotaSetObject",
    "ScpAuth",
    "ScpBadRequest",
    "ScpClient",
    "ScpConfig",
    "ScpConfigError",
    "ScpConflict",
    "ScpError",
    "ScpForbidden",
    "ScpHttpError",
    "ScpInputError",
    "ScpNotFound",
    "ScpRateLimited",
    "ScpResponseError",
    "ScpServerError",
    "ScpTimeoutError",
    "ScpTransportError",
    "ScpUnauthorized",
    "Volume",
    "VolumeQuotaSet",
    "VolumeServer",
    "VolumeShowResponse",
    "VolumeShowResponseV1Dot2",
    "check_api_version",
    "check_endpoint",
    "error_from_response",
    "is_loopback_host",
    "load_config",
    "signature",
    "volume_model",
    "volume_path",
]

"""The SCP v2 Virtual Server client: signing, configuration, API versions, models and errors.

This package knows nothing about MCP. Its implementation lives in private modules; this is the
curated public surface (pinned by tests/test_public_api.py).
"""

from ._client import ExtendAccepted, ScpClient, volume_path
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
    error_from_response,
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
from ._signing import ScpAuth, signature
from ._versions import ApiVersionStatus, check_api_version

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

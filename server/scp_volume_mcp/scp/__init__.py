"""The SCP v2 Virtual Server client: signing, configuration, API versions, models, errors and facts.

This package knows nothing about MCP. Its implementation lives in private modules; this is the
curated public surface (pinned by tests/test_packaging.py). The parts that need httpx (the client and
signing) load on first use, so a server that only lists its tools never imports httpx.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from ._config import ScpConfig, config_dir, credentials_exposure, load_config
from ._discovery import ScpDiscoveryError
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
    ScpVersionRejected,
)
from ._models import (
    SNAPSHOT_AVAILABLE,
    SNAPSHOT_FAILED_STATUSES,
    SNAPSHOT_NAME_MAX,
    SNAPSHOT_NAME_PATTERN,
    Snapshot,
    Volume,
    VolumeQuotaSet,
    VolumeServer,
    VolumeShowResponse,
    VolumeShowResponseV1Dot2,
)
from ._net import is_loopback_host, url_host
from ._platform import (
    API_SERVICE,
    API_VERSIONS,
    CLIENT_TYPE,
    CURRENT_API_VERSION,
    EXAMPLE_VOLUME_ID,
    EXTENDABLE_STATES,
    EXTENDING_STATE,
    EXTENDING_STATES,
    FAILED_STATES,
    KNOWN_STATES,
    LIST_PAGE_SIZE_MAX,
    MAX_VOLUME_SIZE_GB,
    MIN_EXTEND_TARGET_GB,
    MIN_VOLUME_SIZE_GB,
    SETTLED_STATES,
    SIZE_STEP_GB,
    VERSIONS_WITH_PERFORMANCE,
    VOLUME_ID_PATTERN,
    StateSet,
    classify_state,
    is_volume_id,
    known_spelling,
    state_key,
)
from ._versions import ApiVersionStatus, check_api_version

if TYPE_CHECKING:
    from ._client import ExtendAccepted, Probe, ScpClient
    from ._signing import ScpAuth, signature

__getattr__ = lazy_attributes(
    __name__,
    {
        "ExtendAccepted": "._client",
        "Probe": "._client",
        "ScpClient": "._client",
        "ScpAuth": "._signing",
        "signature": "._signing",
    },
)

__all__ = [
    "API_SERVICE",
    "API_VERSIONS",
    "CLIENT_TYPE",
    "CURRENT_API_VERSION",
    "EXAMPLE_VOLUME_ID",
    "EXTENDABLE_STATES",
    "EXTENDING_STATE",
    "EXTENDING_STATES",
    "FAILED_STATES",
    "KNOWN_STATES",
    "LIST_PAGE_SIZE_MAX",
    "MAX_VOLUME_SIZE_GB",
    "MIN_EXTEND_TARGET_GB",
    "MIN_VOLUME_SIZE_GB",
    "SETTLED_STATES",
    "SIZE_STEP_GB",
    "SNAPSHOT_AVAILABLE",
    "SNAPSHOT_FAILED_STATUSES",
    "SNAPSHOT_NAME_MAX",
    "SNAPSHOT_NAME_PATTERN",
    "VERSIONS_WITH_PERFORMANCE",
    "VOLUME_ID_PATTERN",
    "ApiVersionStatus",
    "ExtendAccepted",
    "Probe",
    "ScpAuth",
    "ScpBadRequest",
    "ScpClient",
    "ScpConfig",
    "ScpConfigError",
    "ScpConflict",
    "ScpDiscoveryError",
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
    "ScpVersionRejected",
    "Snapshot",
    "StateSet",
    "Volume",
    "VolumeQuotaSet",
    "VolumeServer",
    "VolumeShowResponse",
    "VolumeShowResponseV1Dot2",
    "check_api_version",
    "classify_state",
    "config_dir",
    "credentials_exposure",
    "is_loopback_host",
    "is_volume_id",
    "known_spelling",
    "load_config",
    "signature",
    "state_key",
    "url_host",
]

"""The platform's facts: size rules, volume states, ids, API versions, headers and endpoints.

Everything here comes from `shared/reference` (the Extend Volume API page and scp-facts.md). The
tool schema, the guards and the emulator import these, so they cannot disagree.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final, Literal

# --- Volume sizes (GiB) -------------------------------------------------------------------------
MIN_VOLUME_SIZE_GB: Final = 8
"""The platform's smallest volume size (`VolumeExtendRequest.size` minimum)."""
SIZE_STEP_GB: Final = 8
"""Sizes must be multiples of this (Samsung's Terraform provider refuses other sizes)."""
MIN_EXTEND_TARGET_GB: Final = MIN_VOLUME_SIZE_GB + SIZE_STEP_GB
"""The smallest size that can be a growth: a volume is at least 8 GB, so a growth reaches at least 16."""

# --- Volume states ------------------------------------------------------------------------------
EXTENDABLE_STATES: Final = frozenset({"available", "in-use"})
"""Only these states may be extended (by analogy with OpenStack Cinder, on which the API is modelled)."""
SETTLED_STATES: Final = EXTENDABLE_STATES
"""States a waiter accepts as the end of an extension (together with the target size)."""
EXTENDING_STATE: Final = "extending"
FAILED_STATES: Final = frozenset({"error", "error_extending"})
KNOWN_STATES: Final = (
    "available",
    "in-use",
    "creating",
    "extending",
    "error",
    "error_extending",
    "deleting",
    "attaching",
    "detaching",
    "reserved",
    "maintenance",
)

# --- Volume ids ---------------------------------------------------------------------------------
VOLUME_ID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_VOLUME_ID_RE: Final = re.compile(VOLUME_ID_PATTERN.replace("$", r"\Z"))
EXAMPLE_VOLUME_ID: Final = "3f500f00-ed80-4566-a057-e31760226f9a"
"""The volume of the Extend Volume API page's example (the emulator seeds it)."""


def is_volume_id(value: object) -> bool:
    """True for a canonical UUID string: ASCII hex and hyphens only, no whitespace, no newline."""
    return isinstance(value, str) and _VOLUME_ID_RE.match(value) is not None


# --- API versions -------------------------------------------------------------------------------
ApiVersionState = Literal["CURRENT", "SUPPORTED", "DEPRECATED"]
API_SERVICE: Final = "virtualserver"
CURRENT_API_VERSION: Final = "1.3"
API_VERSIONS: Final[dict[str, tuple[ApiVersionState, date | None]]] = {
    "1.3": ("CURRENT", None),
    "1.2": ("SUPPORTED", date(2026, 8, 31)),
    "1.1": ("DEPRECATED", date(2026, 5, 31)),
    "1.0": ("DEPRECATED", date(2025, 12, 31)),
}
"""Extend Volume versions: state and not-before date ("no longer supported" from that date on)."""
VERSIONS_WITH_PERFORMANCE: Final = frozenset({"1.2", "1.3"})
"""Versions whose volume body (VolumeShowResponseV1Dot2) has `max_iops` and `max_throughput`."""
VERSION_WARNING_DAYS: Final = 90
"""Warn when a configured version's not-before date is this close (Samsung's provider default)."""

# --- Signing and headers ------------------------------------------------------------------------
CLIENT_TYPE: Final = "Openapi"
HEADER_ACCESS_KEY: Final = "Scp-AccessKey"
HEADER_TIMESTAMP: Final = "Scp-Timestamp"
HEADER_CLIENT_TYPE: Final = "Scp-ClientType"
HEADER_SIGNATURE: Final = "Scp-Signature"
HEADER_API_VERSION: Final = "Scp-Api-Version"
ACCEPT_LANGUAGE: Final = "en-US"

# --- Endpoints and listing ----------------------------------------------------------------------
SERVICE_URL_TEMPLATE: Final = "https://virtualserver.{region}.{environment}.samsungsdscloud.com"
ENVIRONMENTS: Final = {"s": "Samsung", "g": "Sovereign", "e": "Enterprise"}
CONFIG_DIR_NAME: Final = ".scpconf"
LIST_PAGE_SIZE: Final = 100
LIST_PAGE_SIZE_MAX: Final = 1000

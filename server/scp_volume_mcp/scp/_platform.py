"""The platform's facts: size rules, volume states, ids, API versions, headers and endpoints.

Everything here comes from Samsung Cloud Platform's published documentation: the Extend Volume page of
the Virtual Server API reference (`PUT /v1/volumes/{volume_id}/size`, versions 1.0 to 1.3 with their states
and not-before dates) and the OpenAPI document of the Virtual Server API (version 1.0, as Samsung SDS
publishes it in its Go SDK terraform-sdk-samsungcloudplatformv2, `library/virtualserver/1.0/api/openapi.yaml`).
Where those are silent, a fact follows Samsung's own tools (or OpenStack Cinder, on which the API is
modelled) and says so. The tool schema, the guards and the emulator import these, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Final, Literal

# --- Volume sizes (GiB) -------------------------------------------------------------------------
MIN_VOLUME_SIZE_GB: Final = 8
"""The platform's smallest volume size (`VolumeExtendRequest.size` minimum)."""
SIZE_STEP_GB: Final = 8
"""Sizes must be multiples of this (Samsung's Terraform provider refuses other sizes)."""
MIN_EXTEND_TARGET_GB: Final = MIN_VOLUME_SIZE_GB + SIZE_STEP_GB
"""The smallest size that can be a growth: a volume is at least 8 GB, so a growth reaches at least 16."""
MAX_VOLUME_SIZE_GB: Final = 12288
"""The largest Virtual Server data volume, about 12 TB (16,384 GB is the bare-metal limit): no size above it is
sent, whatever the quota states."""

# --- Volume states ------------------------------------------------------------------------------
# The API types `state` as a free string. Samsung's docs and tools spell the same state as `in-use`,
# `error_extending` or "Backing Up": states are compared by `state_key` (case-insensitive, with `-`, `_`
# and spaces alike) and always shown as the platform spelled them.


_SEPARATORS: Final = re.compile(r"[-_\s]+")


def state_key(state: str) -> str:
    """The comparison key of a state: `"Error Extending"`, `"error_extending"` -> `"error-extending"`."""
    return _SEPARATORS.sub("-", state.strip().lower())


class StateSet:
    """A class of volume states; `in` compares by `state_key`, and a prefix can admit a whole family."""

    __slots__ = ("_keys", "_prefix", "names")

    def __init__(self, *names: str, prefix: str | None = None) -> None:
        self.names = names
        self._keys = frozenset(state_key(n) for n in names)
        self._prefix = state_key(prefix) if prefix else None

    def __contains__(self, state: object) -> bool:
        if not isinstance(state, str):
            return False
        key = state_key(state)
        if key in self._keys:
            return True
        return self._prefix is not None and (key == self._prefix or key.startswith(self._prefix + "-"))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"StateSet{self.names!r}"


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
    "awaiting-transfer",
    "downloading",
    "uploading",
    "retyping",
    "reverting",
    "backing-up",
    "restoring-backup",
    "error_deleting",
    "error_restoring",
    "error_backing-up",
    "error_managing",
)
"""Every state seen in Samsung's docs and tools, in their spelling."""
_KNOWN_BY_KEY: Final = {state_key(s): s for s in KNOWN_STATES}


def known_spelling(state: str) -> str:
    """A state as the platform spells it (`"In Use"`, `"IN-USE"`, `"in_use"` -> `"in-use"`), for a filter sent to
    it; a state not known here is sent as typed, without surrounding spaces."""
    return _KNOWN_BY_KEY.get(state_key(state), state.strip())


EXTENDABLE_STATES: Final = StateSet("available", "in-use")
"""Only these states may be extended (by analogy with OpenStack Cinder, on which the API is modelled)."""
SETTLED_STATES: Final = EXTENDABLE_STATES
"""States a waiter accepts as the end of an extension (together with the target size)."""
EXTENDING_STATE: Final = "extending"
EXTENDING_STATES: Final = StateSet(EXTENDING_STATE)
FAILED_STATES: Final = StateSet(*(s for s in KNOWN_STATES if s.startswith("error")), prefix="error")
"""`error` and every `error*` state (`error_extending`, "Error Restoring", ...), known or not."""
BUSY_STATES: Final = StateSet(
    *(s for s in KNOWN_STATES if state_key(s) not in {"available", "in-use", "extending"} and s not in FAILED_STATES)
)
"""States of a volume the platform is working on (or holding) for another operation."""

StateClass = Literal["extendable", "extending", "failed", "busy", "unknown"]


def classify_state(state: str) -> StateClass:
    """What a state means for an extension, whatever its spelling."""
    if state in EXTENDABLE_STATES:
        return "extendable"
    if state in EXTENDING_STATES:
        return "extending"
    if state in FAILED_STATES:
        return "failed"
    if state in BUSY_STATES:
        return "busy"
    return "unknown"


# --- Volume ids ---------------------------------------------------------------------------------
VOLUME_ID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_VOLUME_ID_RE: Final = re.compile(VOLUME_ID_PATTERN.replace("$", r"\Z"))
EXAMPLE_VOLUME_ID: Final = "3f500f00-ed80-4566-a057-e31760226f9a"
"""The volume of the Extend Volume API page's example (the emulator seeds it)."""


def is_volume_id(value: object) -> bool:
    """True for a canonical UUID string: ASCII hex and hyphens only, no whitespace, no newline."""
    return isinstance(value, str) and _VOLUME_ID_RE.match(value) is not None


# --- API versions -------------------------------------------------------------------------------
ApiVersionState = Literal["CURRENT", "SUPPORTED", "DEPRECATED", "UNVERIFIED"]
"""UNVERIFIED: a version newer than this table knows, accepted with a warning (its shape is not verified)."""
API_SERVICE: Final = "virtualserver"
CURRENT_API_VERSION: Final = "1.3"
API_VERSIONS: Final[dict[str, tuple[ApiVersionState, date | None]]] = {
    "1.3": ("CURRENT", None),
    "1.2": ("SUPPORTED", date(2026, 8, 31)),
    "1.1": ("DEPRECATED", date(2026, 5, 31)),
    "1.0": ("DEPRECATED", date(2025, 12, 31)),
}
"""Extend Volume versions: state and not-before date ("no longer supported" from that date on).

The one table of versions: the README's table is checked against it (tests/scp/test_versions.py). A third party
read Samsung's version page (2026-09) as listing Virtual Server 1.5 as current and 1.3 as supported, so 1.3
may get a date this table does not know: a platform that rejects the version header is reported by name."""


def version_tuple(version: str) -> tuple[int, ...] | None:
    """`"1.3"` -> `(1, 3)`; None for anything that is not dot-separated numbers."""
    parts = version.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and len(p) <= 4 for p in parts):
        return None
    return tuple(int(p) for p in parts)


def is_newer_than_known(version: str) -> bool:
    """True for a well-formed version above every version in API_VERSIONS (e.g. 1.5)."""
    mine = version_tuple(version)
    newest = max(t for t in map(version_tuple, API_VERSIONS) if t is not None)
    return mine is not None and mine > newest


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

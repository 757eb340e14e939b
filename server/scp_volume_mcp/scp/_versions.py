"""The Extend Volume API versions: which may be used today, and which are about to stop working."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ._errors import ScpConfigError
from ._platform import (
    API_SERVICE,
    API_VERSIONS,
    CURRENT_API_VERSION,
    VERSION_WARNING_DAYS,
    ApiVersionState,
    is_newer_than_known,
)


@dataclass(frozen=True, slots=True)
class ApiVersionStatus:
    version: str
    state: ApiVersionState
    not_before: date | None
    warning: str | None
    """Set when the version stops working within VERSION_WARNING_DAYS."""

    @property
    def header(self) -> str:
        """The `Scp-Api-Version` header value."""
        return f"{API_SERVICE} {self.version}"


def known_versions() -> str:
    """The versions this server knows, newest first: `"1.3, 1.2, 1.1, 1.0"`."""
    return ", ".join(sorted(API_VERSIONS, reverse=True))


def check_api_version(version: str, today: date | None = None) -> ApiVersionStatus:
    """Return the version's status, or raise `ScpConfigError` for an unknown or retired version."""
    today = today or date.today()
    known = known_versions()
    if version not in API_VERSIONS and is_newer_than_known(version):
        unverified = (
            f"SCP API version {version} (SCP_API_VERSION) is newer than the versions this server knows ({known}); "
            "it is used as asked, but its request and answer shapes are not verified here."
        )
        return ApiVersionStatus(version, "UNVERIFIED", None, unverified)
    if version not in API_VERSIONS:
        raise ScpConfigError(
            f"Unknown SCP API version {version!r} (known: {known}); "
            f"set SCP_API_VERSION={CURRENT_API_VERSION}, the current version."
        )
    state, not_before = API_VERSIONS[version]
    if not_before is not None and today >= not_before:
        raise ScpConfigError(
            f"SCP API version {version} is no longer supported since {not_before.isoformat()} "
            f"(deprecated versions stop working on their not-before date); "
            f"use {CURRENT_API_VERSION}, the current version (SCP_API_VERSION={CURRENT_API_VERSION})."
        )
    warning: str | None = None
    if not_before is not None and not_before - today <= timedelta(days=VERSION_WARNING_DAYS):
        days = (not_before - today).days
        warning = (
            f"SCP API version {version} ({state.lower()}) stops working on {not_before.isoformat()}, "
            f"in {days} day{'s' if days != 1 else ''}; move to {CURRENT_API_VERSION}."
        )
    return ApiVersionStatus(version, state, not_before, warning)

from __future__ import annotations

from datetime import date

import pytest

from scp_volume_mcp.scp import ScpConfigError, check_api_version


def test_current_version_has_no_date_and_no_warning() -> None:
    status = check_api_version("1.3", date(2026, 11, 27))
    assert (status.state, status.not_before, status.warning) == ("CURRENT", None, None)
    assert status.header == "virtualserver 1.3"


@pytest.mark.parametrize(
    ("version", "retired_on"), [("1.0", "2025-12-31"), ("1.1", "2026-05-31"), ("1.2", "2026-08-31")]
)
def test_retired_versions_are_refused_naming_the_current_one(version: str, retired_on: str) -> None:
    with pytest.raises(ScpConfigError) as info:
        check_api_version(version, date(2026, 11, 27))
    assert retired_on in str(info.value)
    assert "1.3" in str(info.value)


def test_version_within_90_days_warns() -> None:
    status = check_api_version("1.2", date(2026, 7, 1))
    assert status.warning is not None
    assert "2026-08-31" in status.warning
    assert "61 days" in status.warning


def test_version_far_from_its_date_does_not_warn() -> None:
    assert check_api_version("1.2", date(2026, 1, 1)).warning is None


def test_the_not_before_day_itself_is_refused() -> None:
    with pytest.raises(ScpConfigError):
        check_api_version("1.2", date(2026, 8, 31))


def test_unknown_version() -> None:
    for version in ("0.9", "1.2.9", "latest", "1.3 "):
        with pytest.raises(ScpConfigError, match=r"Unknown SCP API version"):
            check_api_version(version)

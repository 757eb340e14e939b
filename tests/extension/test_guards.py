"""The guard rules as a table: current size, target, state, quota -> verdict and reasons."""

from __future__ import annotations

import pytest

from scp_volume_mcp.extension.guards import assess_extension
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, Volume

CASES = [
    # current, target, state, quota, verdict, reasons (substrings, in order)
    (100, 104, "in-use", None, "extend", []),
    (100, 104, "available", 104, "extend", []),
    (104, 104, "in-use", None, "unchanged", []),
    (104, 104, "error", None, "unchanged", []),
    # extend_volume's schema would refuse 100 as an argument: the plan says so, even for a volume of 100 GB
    (100, 100, "in-use", None, "refused", ["multiples of 8 GB: try 104 GB"]),
    (100, 1030, "in-use", 1024, "refused", ["multiples of 8 GB: try 1024 GB", "per-volume quota of 1024 GB"]),
    (8, 8, "available", None, "refused", ["the smallest size a volume grows to is 16 GB: try 16 GB"]),
    (8, 12, "available", None, "refused", ["multiples of 8 GB: try 16 GB"]),
    (100, 96, "in-use", None, "refused", ["volumes can only grow: current 100 GB, requested 96 GB"]),
    (100, 96, "extending", 50, "refused", ["volumes can only grow"]),
    (100, 105, "in-use", None, "refused", ["multiples of 8 GB: try 104 or 112 GB"]),
    (100, 103, "in-use", None, "refused", ["multiples of 8 GB: try 104 GB"]),
    (100, 104, "extending", None, "refused", ["already in progress"]),
    (100, 104, "error", None, "refused", ['the volume is "error"; only available or in-use']),
    (100, 104, "creating", None, "refused", ['the volume is "creating"']),
    (100, 112, "in-use", 104, "refused", ["112 GB exceeds the per-volume quota of 104 GB"]),
    (100, 113, "deleting", 104, "refused", ["multiples of 8", 'the volume is "deleting"', "per-volume quota"]),
]


@pytest.mark.parametrize(("current", "target", "state", "quota", "verdict", "reasons"), CASES)
def test_guard_rules(
    current: int, target: int, state: str, quota: int | None, verdict: str, reasons: list[str]
) -> None:
    volume = Volume(id=EXAMPLE_VOLUME_ID, size=current, state=state)
    assessment = assess_extension(volume, target, quota)
    assert assessment.verdict == verdict
    assert len(assessment.reasons) == len(reasons)
    for got, expected in zip(assessment.reasons, reasons, strict=True):
        assert expected in got

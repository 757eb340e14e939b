"""The benchmark runs end to end in its quick mode. It asserts no timing: targets live in BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_produces_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert {"machine", "startup", "per_call", "memory", "http", "verdicts"} <= results.keys()
    assert results["startup"]["median_ms"]["scp-volume-mcp"] > 0
    assert results["per_call"]["calls"] > 0
    assert results["memory"]["scp-volume-mcp"]["peak_rss_mb"] > 0
    assert results["http"]["errors"] == 0  # correctness, not timing: every concurrent call succeeded
    assert len(results["verdicts"]) >= 6
    assert "start-up ratio" in done.stdout

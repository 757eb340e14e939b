"""The benchmark runs end to end in its quick mode. It asserts no timing: targets live in BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder (TMPDIR) of the quick run."""
    return tmp_path_factory.mktemp("bench-tmp")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, quick_temp: Path) -> tuple[dict[str, Any], str]:
    """One quick run of every section, shared by the tests below: (the JSON results, stdout)."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(quick_temp)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def test_quick_benchmark_leaves_no_temporary_files(quick_run: tuple[dict[str, Any], str], quick_temp: Path) -> None:
    """Every section removes what it wrote under the temporary folder (audit trails, logs, staged baselines)."""
    assert sorted(p.name for p in quick_temp.iterdir()) == []


def test_quick_benchmark_produces_every_section(quick_run: tuple[dict[str, Any], str]) -> None:
    results, stdout = quick_run
    assert {"machine", "startup", "per_call", "memory", "http", "replicas", "verdicts"} <= results.keys()
    assert results["startup"]["median_ms"]["scp-volume-mcp"] > 0
    assert results["per_call"]["calls"] > 0
    assert results["memory"]["scp-volume-mcp"]["peak_rss_mb"] > 0
    assert results["http"]["errors"] == 0  # correctness, not timing: every concurrent call succeeded
    assert len(results["verdicts"]) >= 6
    assert "start-up ratio" in stdout


def test_quick_replicas_send_one_resize_per_volume(quick_run: tuple[dict[str, Any], str]) -> None:
    """Correctness, not timing: every configuration sent exactly one PUT per volume (the emulator's journal),
    colliding calls answered `unchanged` or 'in progress', and each audit trail has one intent per PUT and one
    outcome per call. The PostgreSQL rows are skipped without PostgreSQL, saying so, except in CI."""
    results, stdout = quick_run
    replicas = results["replicas"]
    runs = {run["name"]: run for run in replicas["runs"]}
    colliding_calls = replicas["colliding_volumes"] * replicas["calls_per_colliding_volume"]
    volumes, calls = (
        replicas["distinct_volumes"] + replicas["colliding_volumes"],
        replicas["distinct_volumes"] + colliding_calls,
    )
    trail = {"intents": volumes, "outcomes": calls}  # one intent per PUT, one outcome per call
    assert {"1 process, no audit", "1 process, file audit"} <= runs.keys()
    for run in runs.values():
        assert run["errors"] == 0, (run["name"], run["first_errors"])
        assert run["journal"]["exactly_one_each"], (run["name"], run["journal"])
        assert sum(run["colliding_outcomes"].values()) == colliding_calls
        assert run["colliding_outcomes"]["sent"] == replicas["colliding_volumes"]
        assert run["correct"], run
    assert runs["1 process, file audit"]["audit"] == trail
    skipped = replicas.get("postgres_skipped")
    if skipped:
        assert "SKIPPED" in stdout
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is required in CI: {skipped}")
        pytest.skip(skipped)
    three = runs["3 replicas, PostgreSQL"]
    assert three["replicas"] == 3
    assert three["audit"] == trail
    assert "1 replica, PostgreSQL" in runs

"""Randomized fault histories (tools/chaos.py), bounded for CI: a fixed seed and a random one, about 25 s each,
with replicas on PostgreSQL and stdio servers sharing an audit file, under a nemesis. A failing seed is in the
assertion message; `python tools/chaos.py --seed N` replays it. The longer soak runs outside CI
(`python tools/chaos.py --minutes 30`, results in CHAOS.md)."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from chaos import Plan, run, violations
from scp_volume_mcp.emulator import AcceptedResize

pytestmark = pytest.mark.slow
FIXED_SEED = 20261202


@pytest.mark.parametrize("seed", [FIXED_SEED, random.SystemRandom().randrange(2**32)], ids=["fixed", "random"])
def test_a_randomized_history_keeps_every_promise(database_url: str, seed: int) -> None:
    report = run(Plan(seed, duration_s=25.0, replicas=2, workers=5), database_url)
    assert report["violations"] == [], f"seed {seed}: replay with python tools/chaos.py --seed {seed}"
    assert report["accepted_resizes"] > 0, f"seed {seed}: the history resized nothing"
    assert sum(report["faults"].values()) > 0, f"seed {seed}: the nemesis did nothing"


def _history(accepted: list[AcceptedResize], records: list[dict[str, Any]], killed: set[str]) -> Any:
    """Just what `violations` reads of a history."""
    state = SimpleNamespace(history=SimpleNamespace(entries=lambda: accepted))
    return SimpleNamespace(
        emulator=SimpleNamespace(state=state), trails=lambda: [({}, records)], servers=SimpleNamespace(killed=killed)
    )


def _intent(attempt: str, size: int, at: float, replica: str = "r1.1") -> dict[str, Any]:
    from datetime import UTC, datetime

    time = datetime.fromtimestamp(at, UTC).isoformat()
    return {"phase": "intent", "attempt_id": attempt, "volume_id": "v", "requested_size_gb": size, "time": time,
            "replica": replica}  # fmt: skip


def _outcome(attempt: str) -> dict[str, Any]:
    return {"phase": "outcome", "attempt_id": attempt}


def test_the_checks_catch_each_broken_promise() -> None:
    """The checker itself, on histories that break each promise (a check that cannot fail proves nothing)."""
    good = [AcceptedResize("v", 112, 10.0, 11.5), AcceptedResize("v", 120, 12.0, 13.5)]
    records = [_intent("a", 112, 9.9), _outcome("a"), _intent("b", 120, 11.9), _outcome("b")]
    assert violations(_history(good, records, set())) == []
    overlapping = [AcceptedResize("v", 112, 10.0, None), AcceptedResize("v", 120, 12.0, 13.5)]
    assert any("had not taken effect" in v for v in violations(_history(overlapping, records, set())))
    shrinking = [AcceptedResize("v", 120, 10.0, 11.5), AcceptedResize("v", 112, 12.0, 13.5)]
    assert any("did not grow" in v for v in violations(_history(shrinking, records, set())))
    late_intent = [_intent("a", 112, 10.5), _outcome("a"), _intent("b", 120, 11.9), _outcome("b")]
    assert any("no intent" in v for v in violations(_history(good, late_intent, set())))
    human = [*records, _intent("h", 128, 14.0, replica="human.1"), _outcome("h")]
    assert any("requires a human" in v for v in violations(_history(good, human, set())))
    unknown = [_intent("a", 112, 9.9), _intent("b", 120, 11.9), _outcome("b")]
    assert any("no outcome" in v for v in violations(_history(good, unknown, set())))
    assert violations(_history(good, unknown, {"r1.1"})) == []  # killed: "outcome unknown" is the truth

"""The extension service as a table, without MCP: every verdict of the preflight against every class of answer
the platform can give the PUT, through the one path (`extension.extend`: the lock, the read under it, execute),
against the emulator. What was sent is judged by the emulator's journal; what was recorded by the trail file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp.audit import FileAuditTrail
from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.extension import ExtensionRequest, Failed, Refused, Run, Services, extend
from scp_volume_mcp.extension.ledger import ResizeLedger
from scp_volume_mcp.scp_connection import ScpConnection

from ..mcp_helpers import client_factory

pytestmark = pytest.mark.anyio

ANSWERS: dict[str, Fault | None] = {
    "2xx": None,
    "4xx": Fault("extend", status=409),
    "5xx, not applied": Fault("extend", status=502),
    "5xx, applied behind it": Fault("extend", status=504, apply=True),
    "timeout": Fault("extend", latency_s=1.5),
    "dropped before the effect": Fault("extend", drop=True, apply=False),
    "dropped after the effect": Fault("extend", drop=True, apply=True),
}
"""The platform's answer to the PUT (None: its normal answer)."""


@dataclass(frozen=True)
class Expected:
    """What a PUT answer leads to when the verdict lets a resize go."""

    raised: type[Exception] | None
    outcome: str
    """The recorded outcome."""
    pending: bool
    """Whether the attempt stays open (it blocks the volume and counts toward the limits)."""


SENT: dict[str, Expected] = {
    "2xx": Expected(None, "completed", False),
    "4xx": Expected(Failed, "failed", False),
    "5xx, not applied": Expected(Failed, "failed", True),
    "5xx, applied behind it": Expected(None, "completed", False),
    "timeout": Expected(Failed, "failed", True),  # the answer lost before a read could show the effect
    "dropped before the effect": Expected(Failed, "failed", True),
    "dropped after the effect": Expected(None, "completed", False),
}

VOLUME = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"
"""A seeded 64 GB volume, available."""
VERDICTS = {"extend": 72, "unchanged": 64, "under_way": 72, "refused (shrink)": 56}
"""The size asked of the volume for each verdict (`under_way`: an earlier attempt at 72 GB is open)."""


def records(trail: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trail.read_text().splitlines()] if trail.exists() else []


async def open_an_earlier_attempt(services: Services, emulator: EmulatorServer) -> None:
    """An earlier attempt whose answer was lost and whose read shows nothing yet: it stays open."""
    emulator.state.add_fault(Fault("extend", status=503))
    with pytest.raises(Failed):
        await extend(services, ExtensionRequest(VOLUME, VERDICTS["under_way"], confirmed_by="flag"), Run())
    emulator.state.journal.clear()


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("verdict", list(VERDICTS))
async def test_every_verdict_against_every_answer_to_the_put(
    emulator: EmulatorServer, tmp_path: Path, verdict: str, answer: str
) -> None:
    trail_file = tmp_path / "audit.jsonl"
    trail = FileAuditTrail(trail_file)
    scp = ScpConnection(client_factory(emulator, timeout_s=0.5))
    services = Services(scp, ResizeLedger(trail), trail, None, "optional", 0.05)
    if verdict == "under_way":
        await open_an_earlier_attempt(services, emulator)
    before = len(records(trail_file))
    fault = ANSWERS[answer]
    if fault is not None:
        emulator.state.add_fault(fault)
    request = ExtensionRequest(VOLUME, VERDICTS[verdict], confirmed_by="flag")
    raised: Exception | None = None
    try:
        report = await extend(services, request, Run(wait=True, timeout_s=5))
    except (Failed, Refused) as exc:
        raised, report = exc, None
    finally:
        await scp.aclose()
    mine = records(trail_file)[before:]
    assert emulator.state.journal.wait_idle(), "the emulator still answering a delayed PUT"
    puts = emulator.state.requests("PUT")
    if verdict != "extend":  # nothing may leave, whatever the platform would have answered
        assert puts == []
        assert [r["phase"] for r in mine] == ["outcome"]
        if verdict == "refused (shrink)":
            assert isinstance(raised, Refused)
            assert raised.refusal.reasons == ["shrink"]
        else:
            assert report is not None
            assert report.outcome == verdict
            assert not report.attempt.sent
        return
    expected = SENT[answer]
    assert len(puts) == 1, "sent once, never again"
    assert [r["phase"] for r in mine] == ["intent", "outcome"]
    assert mine[1]["outcome"] == expected.outcome
    assert bool(mine[1]["resize_pending"]) is expected.pending
    if expected.raised is None:
        assert raised is None
        assert report is not None
        assert report.volume.size == VERDICTS["extend"]
    else:
        assert isinstance(raised, expected.raised)
        assert "try again" not in str(raised) or answer == "4xx"

"""The extension service on its own, without MCP: the paths the tools cannot reach on purpose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from scp_volume_mcp.audit import FileAuditTrail
from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.extension import ApprovedSize, ExtensionRequest, Refused, Run, Services, extend
from scp_volume_mcp.extension import consent as consent_module
from scp_volume_mcp.extension.ledger import ResizeLedger
from scp_volume_mcp.policy import load_policy
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConfigError
from scp_volume_mcp.scp_connection import ScpConnection

from ..mcp_helpers import client_factory

pytestmark = pytest.mark.anyio


def services_of(scp: ScpConnection) -> Services:
    trail = FileAuditTrail(None)
    return Services(scp, ResizeLedger(trail), trail, None, "optional", 0.1)


REQUEST = ExtensionRequest(EXAMPLE_VOLUME_ID, 104, confirmed_by="flag")


async def test_a_client_that_cannot_be_configured_refuses_without_sending(emulator: EmulatorServer) -> None:
    def unconfigured() -> ScpClient:
        raise ScpConfigError("No SCP access key found.")

    with pytest.raises(Refused) as refused:
        await extend(services_of(ScpConnection(unconfigured)), REQUEST, Run())
    assert refused.value.refusal.current_size_gb is None
    assert "No SCP access key" in refused.value.message
    assert emulator.state.requests("PUT") == []


async def test_progress_goes_through_the_callback_and_the_status_is_the_platforms(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 0.5
    scp = ScpConnection(client_factory(emulator))
    seen: list[tuple[float, float, str]] = []

    async def progress(done: float, total: float, message: str) -> None:
        seen.append((done, total, message))

    report = await extend(services_of(scp), REQUEST, Run(wait=True, timeout_s=10, progress=progress))
    await scp.aclose()
    [put] = emulator.state.requests("PUT")
    assert (report.outcome, report.attempt.sent, report.attempt.status, report.attempt.request_id) == (
        "completed",
        True,
        put.status,
        put.request_id,
    )
    assert report.volume.size == 104
    assert seen
    assert all(total == 10 for _, total, _ in seen)
    assert "extending, 100 GB of 104 GB" in seen[0][2]


async def test_under_the_lock_a_volume_no_longer_at_the_approved_size_is_refused(emulator: EmulatorServer) -> None:
    """An approval (a card, a second person) approved growing from one size; the volume changed since: nothing
    is sent. At the approved size, the same request sends its resize."""
    scp = ScpConnection(client_factory(emulator))
    emulator.state.put({**(emulator.state.get(EXAMPLE_VOLUME_ID) or {}), "size": 112})  # a change in the console

    def approved(from_gb: int) -> ExtensionRequest:
        return replace(REQUEST, target_gb=120, confirmed_by="approval", approved_from=ApprovedSize(from_gb, "r1"))

    with pytest.raises(Refused) as refused:
        await extend(services_of(scp), approved(100), Run())
    assert "112 GB now, not the 100 GB it had when request r1 was made" in refused.value.message
    assert refused.value.refusal.reasons == ["state"]
    assert emulator.state.requests("PUT") == []
    await extend(services_of(scp), approved(112), Run())
    await scp.aclose()
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 120}]


async def test_second_person_over_gb_counts_the_days_growth_so_steps_cannot_walk_around_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """With `second_person_over_gb = 256`, steps of 256 GB each: the first goes through, the second would take
    the day's growth over 256 and goes to a second person (here none is configured, so it is refused)."""
    trail = FileAuditTrail(tmp_path / "audit.jsonl")
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[approval]\nsecond_person_over_gb = 256\n", encoding="utf-8")
    policy = load_policy(policy_file)
    scp = ScpConnection(client_factory(emulator))
    services = Services(scp, ResizeLedger(trail), trail, policy, "optional", 0.05)
    volume = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c06"  # archive, 1000 GB, available
    emulator.state.settings.max_volume_size_gb = emulator.state.settings.per_volume_limit_gb = 4096
    first = await extend(services, ExtensionRequest(volume, 1256, confirmed_by="flag"), Run(wait=True))
    assert first.outcome == "completed"
    with pytest.raises(Refused) as second:
        await extend(services, ExtensionRequest(volume, 1512, confirmed_by="flag"), Run(wait=True))
    await scp.aclose()
    assert second.value.refusal.reasons == ["approval"]
    assert "second_person_over_gb 256 (growth in the last 24 hours" in second.value.message
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 1256}]


def test_the_consent_table_is_the_one_its_docstring_draws() -> None:
    """`extension/consent.py` draws its table for readers; the table the code uses must be that one."""
    drawn: dict[tuple[str, str], list[str]] = {}
    for line in (consent_module.__doc__ or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("flag", "auto", "human"):
            for who in cells[1].split(", "):
                drawn[(cells[0], who)] = cells[2:]
    used: dict[tuple[str, str], list[str]] = {}
    for who, modes in consent_module.TABLE.items():
        for mode, row in modes.items():
            used[(mode, who)] = ["refuse" if row[k].startswith("refuse") else row[k] for k in consent_module.KINDS]
    assert drawn == used

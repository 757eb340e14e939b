"""The extend operation on its own, without MCP: the paths the tools cannot reach on purpose."""

from __future__ import annotations

import pytest

from scp_volume_mcp.attempt import Attempt, ExtendRefused
from scp_volume_mcp.audit import FileAuditTrail
from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.extend_operation import ExtendOperation
from scp_volume_mcp.live_check import LiveCheck, check_volume
from scp_volume_mcp.resize_ledger import ResizeLedger
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConfigError
from scp_volume_mcp.scp_access import ScpAccess
from scp_volume_mcp.waiting import Progress

from .mcp_helpers import client_factory

pytestmark = pytest.mark.anyio


def _operation(
    scp: ScpAccess, ledger: ResizeLedger, check: LiveCheck, progress: Progress | None = None
) -> ExtendOperation:
    attempt = Attempt(EXAMPLE_VOLUME_ID, 104, check.volume.size, confirmed_by="flag")
    return ExtendOperation(scp, ledger, FileAuditTrail(None), check, attempt, timeout_s=10, poll_s=0.1,
                           progress=progress)  # fmt: skip


async def test_a_client_that_cannot_be_configured_refuses_without_sending(emulator: EmulatorServer) -> None:
    ledger = ResizeLedger(FileAuditTrail(None))
    checked = await check_volume(ScpAccess(client_factory(emulator)), ledger, EXAMPLE_VOLUME_ID, 104)

    def unconfigured() -> ScpClient:
        raise ScpConfigError("No SCP access key found.")

    operation = _operation(ScpAccess(unconfigured), ledger, checked)
    with pytest.raises(ExtendRefused) as refused:
        await operation.run(wait=False)
    attempt = refused.value.attempt
    assert (attempt.sent, attempt.status, attempt.previous_size_gb) == (False, None, 100)
    assert "No SCP access key" in refused.value.message
    assert emulator.state.requests("PUT") == []


async def test_progress_goes_through_the_callback_and_the_status_is_the_platforms(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 0.5
    scp, ledger = ScpAccess(client_factory(emulator)), ResizeLedger(FileAuditTrail(None))
    seen: list[tuple[float, float, str]] = []

    async def progress(done: float, total: float, message: str) -> None:
        seen.append((done, total, message))

    checked = await check_volume(scp, ledger, EXAMPLE_VOLUME_ID, 104)
    report = await _operation(scp, ledger, checked, progress).run(wait=True)
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
    """An approval (a card, a second person) approved growing from one size; the volume changed after the check
    and before the lock: nothing is sent. At the approved size, the same operation sends its resize."""
    scp, ledger = ScpAccess(client_factory(emulator)), ResizeLedger(FileAuditTrail(None))
    checked = await check_volume(scp, ledger, EXAMPLE_VOLUME_ID, 120)
    emulator.state.put({**(emulator.state.get(EXAMPLE_VOLUME_ID) or {}), "size": 112})  # a change in the console

    def approved(from_gb: int) -> ExtendOperation:
        attempt = Attempt(EXAMPLE_VOLUME_ID, 120, 100, confirmed_by="approval", approved_from_gb=from_gb)
        return ExtendOperation(scp, ledger, FileAuditTrail(None), checked, attempt, timeout_s=10, poll_s=0.1)

    with pytest.raises(ExtendRefused) as refused:
        await approved(100).run(wait=False)
    assert "112 GB now, not the 100 GB it had when the extension was approved" in refused.value.message
    assert refused.value.codes == ["state"]
    assert emulator.state.requests("PUT") == []
    await approved(112).run(wait=False)
    await scp.aclose()
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 120}]

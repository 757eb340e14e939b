"""The extend operation on its own, without MCP: the paths the tools cannot reach on purpose."""

from __future__ import annotations

import pytest

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.extension import Extension, ExtensionRefused, check_live
from scp_volume_mcp.runtime import Runtime
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConfigError

from .mcp_helpers import client_factory

pytestmark = pytest.mark.anyio


async def test_a_client_that_cannot_be_configured_refuses_without_sending(emulator: EmulatorServer) -> None:
    checked = await check_live(Runtime(client_factory(emulator)), EXAMPLE_VOLUME_ID, 104)

    def unconfigured() -> ScpClient:
        raise ScpConfigError("No SCP access key found.")

    operation = Extension(Runtime(unconfigured), checked, 104)
    with pytest.raises(ExtensionRefused) as refused:
        await operation.run("flag", wait=False, timeout_s=1, poll_s=0.1)
    assert (refused.value.sent, refused.value.status, refused.value.previous_size_gb) == (False, None, 100)
    assert "No SCP access key" in refused.value.message
    assert emulator.state.requests("PUT") == []


async def test_progress_goes_through_the_callback_and_the_status_is_the_platforms(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 0.5
    runtime = Runtime(client_factory(emulator))
    seen: list[tuple[float, float, str]] = []

    async def progress(done: float, total: float, message: str) -> None:
        seen.append((done, total, message))

    checked = await check_live(runtime, EXAMPLE_VOLUME_ID, 104)
    report = await Extension(runtime, checked, 104, progress=progress).run("flag", wait=True, timeout_s=10, poll_s=0.1)
    await runtime.aclose()
    [put] = emulator.state.requests("PUT")
    assert (report.outcome, report.sent, report.status, report.request_id) == (
        "completed",
        True,
        put.status,
        put.request_id,
    )
    assert report.volume.size == 104
    assert seen
    assert all(total == 10 for _, total, _ in seen)
    assert "extending, 100 GB of 104 GB" in seen[0][2]

"""The live check shared by plan and extend: read the volume and the quota, and judge the requested size with
the guards and any resize this process (or, in team mode, any replica) knows is on its way. No MCP here."""

from __future__ import annotations

from dataclasses import dataclass

from . import messages, tracing
from .guards import Assessment, assess_extension
from .resize_ledger import ResizeLedger
from .scp import Volume
from .scp_access import ScpAccess


@dataclass(frozen=True)
class LiveCheck:
    """The live volume, the quota and what the guards say about the requested size."""

    volume_id: str
    """The id asked for (what requests use; the platform's copy in `volume.id` is only shown)."""
    volume: Volume
    per_volume_quota_gb: int | None
    assessment: Assessment
    generation: int
    """The ledger's resize generation for the volume when it was read (see `ResizeLedger.generation`)."""

    @property
    def label(self) -> str:
        return messages.volume_label(self.volume.name, self.volume_id)


async def check_volume(scp: ScpAccess, ledger: ResizeLedger, volume_id: str, new_size_gb: int) -> LiveCheck:
    """Read the volume and the quota and judge the extension. Raises `ScpError` when a read fails."""
    attributes = {"scp.volume_id": volume_id, "scp.target_gb": new_size_gb}
    with tracing.span("scp_volume_mcp.check", **attributes) as span:
        generation = ledger.generation(volume_id)
        volume = await scp.client().show_volume(volume_id)
        quota = await scp.per_volume_quota_gb()
        pending = await ledger.blocking_attempt(volume_id, volume, strict=False)
        assessment = assess_extension(volume, new_size_gb, quota, pending)
        span.set_attribute("scp.verdict", assessment.verdict)
        return LiveCheck(volume_id, volume, quota, assessment, generation)

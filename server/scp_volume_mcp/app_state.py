"""What every tool and resolver reads, built once per server: settings, SCP access, the resize ledger and the
audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from .audit import AuditTrail
from .resize_ledger import ResizeLedger
from .scp_access import ScpAccess
from .settings import ServerSettings


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    scp: ScpAccess
    ledger: ResizeLedger
    audit: AuditTrail

    async def start(self) -> None:
        await self.ledger.start()

    async def aclose(self) -> None:
        try:
            await self.scp.aclose()
        finally:
            await self.ledger.aclose()

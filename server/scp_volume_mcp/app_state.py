"""What every tool and resolver reads, built once per server: settings, SCP access, the resize ledger, the
audit trail and, with [approval] policy rules, the approval requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .audit import AuditTrail
from .card_tokens import CardTokens
from .resize_ledger import ResizeLedger
from .scp_access import ScpAccess
from .settings import ServerSettings

if TYPE_CHECKING:
    from .team.approvals import ApprovalStore


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    scp: ScpAccess
    ledger: ResizeLedger
    audit: AuditTrail
    approvals: ApprovalStore | None = None
    """The second approver's requests (team mode with [approval] rules); None: no rule needs a second person."""
    card_tokens: CardTokens = field(default_factory=CardTokens)
    """The confirmation card's single-use tokens (`confirmation_card`)."""

    async def start(self) -> None:
        await self.ledger.start()

    async def aclose(self) -> None:
        try:
            await self.scp.aclose()
        finally:
            await self.ledger.aclose()

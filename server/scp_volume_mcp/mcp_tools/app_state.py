"""What every tool and resolver reads, built once per server: settings, the extension service's collaborators
(the SCP connection, the resize ledger, the audit trail, the approval requests) and the card's tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..audit import AuditTrail
from ..card_tokens import CardTokens
from ..extension import Services
from ..extension.ledger import ResizeLedger
from ..scp_connection import ScpConnection
from ..settings import ServerSettings
from ..team.approvals import ApprovalStore


@dataclass(frozen=True)
class AppState:
    settings: ServerSettings
    scp: ScpConnection
    ledger: ResizeLedger
    audit: AuditTrail
    approvals: ApprovalStore | None = None
    """The second approver's requests (team mode with [approval] rules); None: no rule needs a second person."""
    card_tokens: CardTokens = field(default_factory=CardTokens)
    """The confirmation card's single-use tokens (`mcp_tools.card`)."""

    @property
    def services(self) -> Services:
        """The extension service's collaborators."""
        settings = self.settings
        return Services(self.scp, self.ledger, self.audit, settings.policy, settings.snapshot_policy,
                        settings.poll_interval_s, self.approvals)  # fmt: skip

    async def start(self) -> None:
        await self.ledger.start()

    async def aclose(self) -> None:
        try:
            await self.scp.aclose()
        finally:
            await self.ledger.aclose()

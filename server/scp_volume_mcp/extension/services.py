"""What the extension service works with, built once per server: the SCP connection, the resize ledger (locks
and open attempts), the audit trail, and the settings it judges by. No MCP here."""

from __future__ import annotations

from dataclasses import dataclass

from ..audit import AuditTrail
from ..policy import Policy
from ..scp_connection import ScpConnection
from ..settings import SnapshotPolicy
from ..team.approvals import ApprovalStore
from .ledger import ResizeLedger


@dataclass(frozen=True)
class Services:
    scp: ScpConnection
    ledger: ResizeLedger
    trail: AuditTrail
    policy: Policy | None
    """The team's policy file (`SCP_POLICY_FILE`); None: none."""
    snapshot_policy: SnapshotPolicy
    poll_s: float
    """The longest pause between two reads while waiting."""
    approvals: ApprovalStore | None = None
    """The second person's requests (team mode with [approval] rules); None: no rule needs a second person."""

    def takes_snapshot_first(self, asked: bool) -> bool:
        """Whether an extension snapshots first: the policy's `required` wins over the caller's choice."""
        return self.snapshot_policy == "required" or (self.snapshot_policy == "optional" and asked)

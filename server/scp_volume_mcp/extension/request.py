"""What is asked of the extension service: one frozen request, whichever way it came in (the tool, the card,
a second person's approval). No MCP here."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..models import ConfirmedBy


@dataclass(frozen=True)
class ApprovedSize:
    """The size a person said yes to growing from (in the card, or in a request a second person approved):
    under the lock the volume must still have it, or nothing is sent."""

    size_gb: int
    request_id: str | None = None
    """The second person's request; None: the card."""


@dataclass(frozen=True)
class ExtensionRequest:
    volume_id: str
    """The id asked for, lower case (what requests and locks use)."""
    target_gb: int
    snapshot_first: bool = False
    """Decided once: the snapshot policy and the caller's (or the person's) choice."""
    caller: str | None = None
    """The authenticated caller (an OAuth subject), when there is one."""
    person: str | None = None
    """The OAuth token's subject when it names one (never a client id): who asks for a second person's approval."""
    client_claimed: str | None = None
    """The name the MCP client gave for itself: a claim, not an identity."""
    may_extend: bool = True
    """The caller holds the scope that lets it extend (always, without OAuth)."""
    confirmed_by: ConfirmedBy | None = None
    """Who said yes; None until consent was given."""
    approved_from: ApprovedSize | None = None
    approval_note: str | None = None
    """The second person's request behind it, for the audit trail."""

    def confirmed(self, by: ConfirmedBy, *, snapshot_first: bool | None = None) -> ExtensionRequest:
        """This request once `by` said yes (a person may have asked for a snapshot first as they did)."""
        first = self.snapshot_first if snapshot_first is None else snapshot_first
        return replace(self, confirmed_by=by, snapshot_first=first)

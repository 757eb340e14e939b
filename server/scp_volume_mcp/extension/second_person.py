"""A second person's approval, filed: an extension that a policy rule sends to a second person sends nothing; it
stores a request (`team.approvals`) and records the attempt's outcome `awaiting_approval`. Under
`SCP_CONFIRMATION=human` the requester's own person has said yes before this runs (see `consent`). No MCP here.
"""

from __future__ import annotations

from dataclasses import replace

from .. import messages
from ..policy import Rule
from ..team.approvals import ApprovalError
from .attempt import ExtensionReport
from .conclude import conclude
from .live_check import LiveCheck
from .preflight import refuse
from .request import ExtensionRequest
from .services import Services


async def file_request(services: Services, request: ExtensionRequest, check: LiveCheck, rule: Rule) -> ExtensionReport:
    """Store the request `rule` asks for; refuses (recorded) when no store, no person or no database."""
    policy, approvals = services.policy, services.approvals
    if approvals is None or policy is None:  # never served so: fail closed
        await refuse(services, request, check, messages.approvals_unavailable(rule.label), ["approval"])
    if request.person is None:  # a token without a subject names nobody that a second person could differ from
        await refuse(services, request, check, messages.NO_SUBJECT, ["approval"])
    try:
        filed = await approvals.create(
            volume_id=request.volume_id,
            volume_name=check.volume.name,
            previous_size_gb=check.volume.size,
            requested_size_gb=request.target_gb,
            snapshot_first=request.snapshot_first,
            rule=rule.label,
            requester=request.person,
            ttl_s=policy.approval.request_ttl_hours * 3600,
        )
    except ApprovalError as exc:
        await refuse(services, request, check, messages.approvals_unreachable(str(exc)), ["approval"])
    noted = replace(request, approval_note=f"approval request {filed.request_id} ({rule.label})")
    report = await conclude(services, noted, check.volume, "awaiting_approval")
    return replace(report, approval=filed)

"""The second approver: team mode with OAuth, and the policy file's [approval] rules. Thin adapters on the
extension service (an `extend_volume` that a rule sends to a second person files its request there, see
`extension.second_person`).

- `list_extension_requests`: the requests waiting, with who asked, the sizes and their age.
- `approve_extension`: a second person (scope `volumes:approve`, not the requester) decides. An approval claims
  the request (decided once, whichever replica inserts first) and runs the one path (`extension.extend`) with the
  request's size as the size approved from: under the lock, the volume must still have it. The result and the
  audit name both people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, NoReturn, TypeVar

from mcp.server.mcpserver import Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from .. import messages, untrusted_text
from ..extension import (
    ApprovedSize,
    Decision,
    ExtensionRequest,
    Refused,
    Run,
    conclude,
    extend,
    preflight,
    refuse,
    summarize,
)
from ..extension.consent import consent_for
from ..extension.summary import approval_info, expires_at
from ..extension.waiting import PhasedProgress
from ..models import ExtendResult, ExtensionRequestList, WaitingRequest
from ..oauth import APPROVE_SCOPE, has_approve_scope, person
from ..team.approvals import ApprovalError, ApprovalRequest, ApprovalStore, stored_subject
from .consent import ExtensionConfirmation, NoQuestion, client_kind, unknowable_version
from .context import Ctx, app_state, request_of, text_result, volume_for_summary
from .extend_tool import TimeoutS, Wait, not_confirmed

T = TypeVar("T")
RequestId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{32}$", description="The request's id, as extend_volume or list_extension_requests gave it"
    ),
]
Approve = Annotated[bool, Field(description=messages.APPROVE_DESCRIPTION)]
Reason = Annotated[str | None, Field(max_length=500, description=messages.REASON_DESCRIPTION)]


async def list_extension_requests(ctx: Ctx) -> Annotated[CallToolResult, ExtensionRequestList]:
    """The requests waiting for a second person, oldest first."""
    requests = await _read(lambda store: store.open_requests(), ctx)
    listed = [
        WaitingRequest(
            request_id=r.request_id,
            volume_id=r.volume_id,
            name=untrusted_text.field(r.volume_name),
            previous_size_gb=r.previous_size_gb,
            requested_size_gb=r.requested_size_gb,
            snapshot_first=r.snapshot_first,
            rule=r.rule,
            requester=r.requester,
            age_s=round(r.age_s, 1),
            expires_at=expires_at(r),
        )
        for r in requests
    ]
    entries = [
        messages.request_entry(
            r.request_id,
            messages.volume_label(r.name, r.volume_id),
            previous=r.previous_size_gb,
            target=r.requested_size_gb,
            rule=r.rule,
            requester=r.requester,
            age_s=r.age_s,
            snapshot_first=r.snapshot_first,
        )
        for r in listed
    ]
    result = ExtensionRequestList(requests=listed, returned=len(listed), approver_scope=APPROVE_SCOPE)
    return text_result(result, messages.request_list_text(entries, APPROVE_SCOPE))


async def approval_consent(request_id: str, approve: bool, ctx: Ctx) -> NoQuestion | Elicit[ExtensionConfirmation]:
    """The approver's own consent before an approval runs an extension: `extension.consent`'s approver rows.
    Declining sends nothing, so it needs no question; the tool refuses a missing scope itself."""
    if not approve or not has_approve_scope():
        return NoQuestion()
    decided = consent_for(app_state(ctx).settings.confirmation, "approver", client_kind(ctx, card=False))
    if decided == "refuse_unknowable":
        raise ToolError(messages.consent_unknowable(unknowable_version(ctx) or ""))
    if decided == "refuse_human_required":
        raise ToolError(messages.HUMAN_REQUIRED)
    if decided == "form":
        return Elicit(await approval_question(ctx, request_id), ExtensionConfirmation)
    return NoQuestion()


async def approve_extension(
    request_id: RequestId,
    approve: Approve,
    ctx: Ctx,
    consent: Annotated[ElicitationResult[BaseModel], Resolve(approval_consent)],
    reason: Reason = None,
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
) -> Annotated[CallToolResult, ExtendResult]:
    if not has_approve_scope():  # before anything is read: this caller may not decide
        raise ToolError(messages.MISSING_APPROVE_SCOPE)
    if approve and not_confirmed(consent) is not None:  # the approver said no to their own question
        raise ToolError(messages.APPROVAL_NOT_CONFIRMED)
    if not approve and not untrusted_text.field(reason):  # a reason of invisible characters says nothing
        raise ToolError(messages.DECLINE_NEEDS_REASON)
    subject = person()
    if subject is None:  # a token without a subject names nobody: nobody can be the second person
        raise ToolError(messages.NO_SUBJECT)
    approver = stored_subject(subject)  # as requests store subjects: compared, shown and recorded in this form
    filed = await _read(lambda store: store.get(request_id), ctx)
    if filed is None:
        raise ToolError(messages.request_not_found(request_id))
    decision = "approved" if approve else "declined"
    note = messages.audit_note(request_id, requester=filed.requester, approver=approver, decision=decision,
                               reason=reason)  # fmt: skip
    request = _request(ctx, filed, approver, note)
    await _decidable(ctx, request, filed, approver)
    if not approve:
        if not await _decide(ctx, request_id, decision, approver, reason):
            await _refuse(ctx, request, filed, await _why_undecidable(ctx, filed))
        return await _declined(ctx, filed, request, approver, reason or "")
    await preflight(app_state(ctx).services, request, under_lock=False)  # refused as it stands: the request stays
    if not await _decide(ctx, request_id, decision, approver, reason):
        await _refuse(ctx, request, filed, await _why_undecidable(ctx, filed))
    progress = PhasedProgress(ctx.report_progress, total=timeout_s * max(1, int(request.snapshot_first) + int(wait)))
    try:
        report = await extend(app_state(ctx).services, request, Run(wait, timeout_s, progress))
    except Refused as exc:  # refused under the lock (the volume changed, another resize began): the approval is spent
        raise exc.with_note(messages.approval_spent(request_id)) from None
    line = messages.approved_line(request_id, requester=filed.requester, approver=approver)
    result, text = summarize(report, snapshot_required=app_state(ctx).settings.snapshot_policy == "required",
                             decision=Decision(line, approval_info(filed, approver)))  # fmt: skip
    return text_result(result, text)


def _request(ctx: Ctx, filed: ApprovalRequest, approver: str, note: str) -> ExtensionRequest:
    """The extension an approval runs: the request's sizes, confirmed by the approval, from the size it was made at
    (the approver holds `volumes:approve`, which is what lets an approval extend)."""
    request = request_of(ctx, filed.volume_id, filed.requested_size_gb, snapshot_first=filed.snapshot_first)
    return replace(request, caller=approver, confirmed_by="approval", approval_note=note, may_extend=True,
                   approved_from=ApprovedSize(filed.previous_size_gb, filed.request_id))  # fmt: skip


async def _decidable(ctx: Ctx, request: ExtensionRequest, filed: ApprovalRequest, approver: str) -> None:
    """Refuse (recorded) a request already decided, expired, or the approver's own."""
    request_id = filed.request_id
    if filed.decision is not None:
        await _refuse(ctx, request, filed, messages.already_decided(request_id, filed.decision, filed.approver))
    if filed.expired:
        await _refuse(ctx, request, filed, messages.request_expired(request_id, expires_at(filed)))
    if approver == filed.requester:  # both as stored: invisible characters cannot make one person two
        await _refuse(ctx, request, filed, messages.own_request(request_id))


async def _declined(
    ctx: Ctx, filed: ApprovalRequest, request: ExtensionRequest, approver: str, reason: str
) -> CallToolResult:
    """Record the declined attempt; the volume is read for the summary when it can be."""
    state = app_state(ctx)
    volume = await volume_for_summary(state, filed.volume_id, size=filed.previous_size_gb, name=filed.volume_name)
    report = await conclude(state.services, replace(request, confirmed_by=None), volume, "declined")
    label = messages.volume_label(untrusted_text.field(filed.volume_name), filed.volume_id)
    line = messages.declined(label, filed.requested_size_gb, request_id=filed.request_id,
                             requester=filed.requester, approver=approver, reason=reason)  # fmt: skip
    result, text = summarize(report, decision=Decision(line, approval_info(filed, approver)))
    return text_result(result, text)


async def _refuse(ctx: Ctx, request: ExtensionRequest, filed: ApprovalRequest, message: str) -> NoReturn:
    """An approval that sends nothing: recorded and raised by the service's one refusal."""
    await refuse(app_state(ctx).services, request, None, message, ["approval"], current_size_gb=filed.previous_size_gb)


async def _why_undecidable(ctx: Ctx, request: ApprovalRequest) -> str:
    """Why a decision was not recorded: another one won meanwhile, or the request expired meanwhile."""
    now = await _read(lambda store: store.get(request.request_id), ctx)
    if now is not None and now.decision is not None:
        return messages.already_decided(request.request_id, now.decision, now.approver)
    return messages.request_expired(request.request_id, expires_at(now or request))


async def _decide(ctx: Ctx, request_id: str, decision: str, approver: str, reason: str | None) -> bool:
    store = _store(ctx)
    try:
        return await store.decide(request_id, "approved" if decision == "approved" else "declined", approver, reason)
    except ApprovalError as exc:
        raise ToolError(messages.approvals_unreachable(str(exc))) from None


async def approval_question(ctx: Ctx, request_id: str) -> str:
    """What the approver is asked before an approval runs: the request's facts, the platform's words quoted."""
    request = await _read(lambda store: store.get(request_id), ctx)
    if request is None:
        raise ToolError(messages.request_not_found(request_id))
    label = messages.volume_label(untrusted_text.field(request.volume_name), request.volume_id)
    return messages.approval_question(label, request_id, previous=request.previous_size_gb,
                                      target=request.requested_size_gb, requester=request.requester,
                                      rule=request.rule)  # fmt: skip


def _store(ctx: Ctx) -> ApprovalStore:
    store = app_state(ctx).approvals
    assert store is not None, "the approval tools are registered only with an approval store"
    return store


async def _read(read: Callable[[ApprovalStore], Awaitable[T]], ctx: Ctx) -> T:
    try:
        return await read(_store(ctx))
    except ApprovalError as exc:
        raise ToolError(messages.approvals_unreachable(str(exc))) from None

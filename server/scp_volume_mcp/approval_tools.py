"""The second approver: team mode with OAuth, and the policy file's [approval] rules.

- `request_approval`: an `extend_volume` that a rule sends to a second person sends nothing. It stores a request
  (`team/approvals.py`), records the attempt's outcome `awaiting_approval` in the audit trail, and says who can
  approve.
- `list_extension_requests`: the requests waiting, with who asked, the sizes and their age.
- `approve_extension`: a second person (scope `volumes:approve`, not the requester) decides. An approval checks
  the volume again (it must still have the size the request was made from), claims the request (decided once,
  whichever replica inserts first), and runs the extension under every guard of `ExtendOperation`: the lock,
  the re-check under it, the snapshot policy and the durable intent. The result and the audit name both people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated, NoReturn, TypeVar

from mcp.server.mcpserver import ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from . import messages, untrusted_text
from .attempt import Attempt, ExtendReport
from .audit.writer import write_outcome
from .confirmation import approval_consent, refuse, takes_snapshot_first
from .extend_tool import TimeoutS, Wait, extension_result, not_confirmed, run_extension
from .live_check import LiveCheck, check_volume
from .models import ApprovalInfo, ExtendResult, ExtensionRequest, ExtensionRequestList
from .oauth import APPROVE_SCOPE, has_approve_scope, person
from .policy import Rule
from .team.approvals import ApprovalError, ApprovalRequest, ApprovalStore, stored_subject
from .tool_context import Ctx, Refused, app_state, scp_errors, start_attempt, text_result, volume_for_summary

T = TypeVar("T")
RequestId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{32}$", description="The request's id, as extend_volume or list_extension_requests gave it"
    ),
]
Approve = Annotated[bool, Field(description=messages.APPROVE_DESCRIPTION)]
Reason = Annotated[str | None, Field(max_length=500, description=messages.REASON_DESCRIPTION)]


async def request_approval(ctx: Ctx, check: LiveCheck, attempt: Attempt, rule: Rule) -> CallToolResult:
    """Store the request a rule asks for and say who can decide it; nothing is sent to SCP."""
    state = app_state(ctx)
    policy, requester = check.policy, person()
    if state.approvals is None or policy is None:  # never served so: fail closed
        await refuse(ctx, check, attempt.target_gb, messages.approvals_unavailable(rule.label), ["approval"])
    if requester is None:  # a token without a subject names nobody that a second person could differ from
        await refuse(ctx, check, attempt.target_gb, messages.NO_SUBJECT, ["approval"])
    try:
        request = await state.approvals.create(
            volume_id=attempt.volume_id,
            volume_name=check.volume.name,
            previous_size_gb=check.volume.size,
            requested_size_gb=attempt.target_gb,
            snapshot_first=attempt.snapshot_first,
            rule=rule.label,
            requester=requester,
            ttl_s=policy.approval.request_ttl_hours * 3600,
        )
    except ApprovalError as exc:
        await refuse(ctx, check, attempt.target_gb, messages.approvals_unreachable(str(exc)), ["approval"])
    info = _info(request)
    attempt.approval_note = f"approval request {request.request_id} ({rule.label})"
    await write_outcome(state.audit, attempt.record("outcome", "awaiting_approval"))
    line = messages.awaiting_approval(check.label, previous=request.previous_size_gb, target=request.requested_size_gb,
                                      rule=rule.label, request_id=request.request_id, requester=request.requester,
                                      expires_at=info.expires_at, scope=APPROVE_SCOPE)  # fmt: skip
    return extension_result(ExtendReport("awaiting_approval", check.volume, attempt), approval=info, decision_line=line)


async def list_extension_requests(ctx: Ctx) -> Annotated[CallToolResult, ExtensionRequestList]:
    """The requests waiting for a second person, oldest first."""
    requests = await _read(lambda store: store.open_requests(), ctx)
    listed = [
        ExtensionRequest(
            request_id=r.request_id,
            volume_id=r.volume_id,
            name=untrusted_text.field(r.volume_name),
            previous_size_gb=r.previous_size_gb,
            requested_size_gb=r.requested_size_gb,
            snapshot_first=r.snapshot_first,
            rule=r.rule,
            requester=r.requester,
            age_s=round(r.age_s, 1),
            expires_at=_iso(r),
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
    request = await _read(lambda store: store.get(request_id), ctx)
    if request is None:
        raise ToolError(messages.request_not_found(request_id))
    state = app_state(ctx)
    attempt = Attempt(request.volume_id, request.requested_size_gb, request.previous_size_gb,
                      snapshot_first=takes_snapshot_first(state.settings.snapshot_policy, request.snapshot_first),
                      api_version=state.scp.api_version, caller=approver)  # fmt: skip
    if request.decision is not None:
        await _refuse(ctx, attempt, messages.already_decided(request_id, request.decision, request.approver))
    if request.expired:
        await _refuse(ctx, attempt, messages.request_expired(request_id, _iso(request)))
    if approver == request.requester:  # both as stored: invisible characters cannot make one person two
        await _refuse(ctx, attempt, messages.own_request(request_id))
    decision = "approved" if approve else "declined"
    note = messages.audit_note(request_id, requester=request.requester, approver=approver, decision=decision,
                               reason=reason)  # fmt: skip
    if not approve:
        return await _decline(ctx, request, attempt, approver, reason or "", note)
    return await _approve(ctx, request, approver, reason, note, snapshot_first=attempt.snapshot_first, wait=wait,
                          timeout_s=timeout_s)  # fmt: skip


async def _approve(ctx: Ctx, request: ApprovalRequest, approver: str, reason: str | None, note: str, *,
                   snapshot_first: bool, wait: bool, timeout_s: float) -> CallToolResult:  # fmt: skip
    """Check the volume again, claim the request, and run the extension under every guard."""
    state, request_id = app_state(ctx), request.request_id
    with scp_errors(request.volume_id):
        check = await check_volume(state.scp, state.ledger, request.volume_id, request.requested_size_gb,
                                   quota_set=snapshot_first, policy=state.settings.policy)  # fmt: skip
    attempt = start_attempt(ctx, check, request.requested_size_gb, snapshot_first=snapshot_first)
    attempt.approval_note, attempt.confirmed_by = note, "approval"
    attempt.approved_from_gb = request.previous_size_gb  # judged again under the lock
    if check.volume.size != request.previous_size_gb:  # a manual change (or another extension) since the request
        changed = messages.changed_since_request(check.label, request_id, requested_from=request.previous_size_gb,
                                                 now=check.volume.size)  # fmt: skip
        await _refuse(ctx, attempt, changed, check)
    if check.assessment.verdict == "refused":
        await _refuse(ctx, attempt, messages.refusal(check.label, check.assessment.reasons), check,
                      codes=check.assessment.codes)  # fmt: skip
    if not await _decide(ctx, request_id, "approved", approver, reason):
        await _refuse(ctx, attempt, await _why_undecidable(ctx, request), check)
    try:
        report = await run_extension(ctx, state, check, attempt, wait=wait, timeout_s=timeout_s)
    except Refused as exc:  # refused under the lock (another resize began meanwhile): the approval is spent
        refusal = exc.refusal
        raise Refused(f"{exc.message} {messages.approval_spent(request_id)}", refusal.reasons,
                      volume_id=refusal.volume_id, current_size_gb=refusal.current_size_gb,
                      requested_size_gb=refusal.requested_size_gb,
                      per_volume_quota_gb=refusal.per_volume_quota_gb) from None  # fmt: skip
    line = messages.approved_line(request_id, requester=request.requester, approver=approver)
    return extension_result(report, snapshot_required=state.settings.snapshot_policy == "required",
                            approval=_info(request, approver), decision_line=line)  # fmt: skip


async def _decline(
    ctx: Ctx, request: ApprovalRequest, attempt: Attempt, approver: str, reason: str, note: str
) -> CallToolResult:
    """Record the decision and the declined attempt; the volume is read for the summary when it can be."""
    if not await _decide(ctx, request.request_id, "declined", approver, reason):
        await _refuse(ctx, attempt, await _why_undecidable(ctx, request))
    attempt.approval_note = note
    await write_outcome(app_state(ctx).audit, attempt.record("outcome", "declined"))
    volume = await volume_for_summary(app_state(ctx), request.volume_id, size=request.previous_size_gb,
                                      name=request.volume_name)  # fmt: skip
    label = messages.volume_label(untrusted_text.field(request.volume_name), request.volume_id)
    line = messages.declined(label, request.requested_size_gb, request_id=request.request_id,
                             requester=request.requester, approver=approver, reason=reason)  # fmt: skip
    report = ExtendReport("declined", volume, attempt)
    return extension_result(report, approval=_info(request, approver), decision_line=line)


async def _why_undecidable(ctx: Ctx, request: ApprovalRequest) -> str:
    """Why a decision was not recorded: another one won meanwhile, or the request expired meanwhile."""
    now = await _read(lambda store: store.get(request.request_id), ctx)
    if now is not None and now.decision is not None:
        return messages.already_decided(request.request_id, now.decision, now.approver)
    return messages.request_expired(request.request_id, _iso(now or request))


async def _decide(ctx: Ctx, request_id: str, decision: str, approver: str, reason: str | None) -> bool:
    store = _store(ctx)
    try:
        return await store.decide(request_id, "approved" if decision == "approved" else "declined", approver, reason)
    except ApprovalError as exc:
        raise ToolError(messages.approvals_unreachable(str(exc))) from None


async def _refuse(
    ctx: Ctx, attempt: Attempt, message: str, check: LiveCheck | None = None, codes: list[str] | None = None
) -> NoReturn:
    """Audit an approval that sends nothing, and raise the refusal (a typed tool error)."""
    await write_outcome(app_state(ctx).audit, attempt.record("outcome", "refused", message))
    raise Refused(message, codes or ["approval"], volume_id=attempt.volume_id, current_size_gb=attempt.previous_size_gb,
                  requested_size_gb=attempt.target_gb,
                  per_volume_quota_gb=check.per_volume_quota_gb if check else None)  # fmt: skip


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


def _iso(request: ApprovalRequest) -> str:
    return request.expires_at.astimezone(UTC).isoformat(timespec="seconds")


def _info(request: ApprovalRequest, approver: str | None = None) -> ApprovalInfo:
    return ApprovalInfo(request_id=request.request_id, rule=request.rule, requester=request.requester,
                        approver=approver, expires_at=_iso(request), approver_scope=APPROVE_SCOPE)  # fmt: skip

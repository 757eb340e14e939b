"""The `extend_volume` tool. Its path reads top to bottom: the resolvers check the live volume and get consent
(`confirmation`), the body starts the attempt's record and runs the extend operation (`extend_operation`), which
signs and sends through the SCP client; the result is a short summary read from the report and the attempt."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field, Strict

from . import messages
from .app_state import AppState
from .attempt import Attempt, ConfirmedBy, ExtendError, ExtendRefused, ExtendReport, Outcome
from .audit.writer import write_outcome
from .confirmation import (
    CardConsent,
    Confirm,
    ExtensionConfirmation,
    ExtensionConfirmationWithSnapshot,
    confirmation,
    confirmation_without_snapshot,
    extension_check,
    extension_check_with_snapshot,
    takes_snapshot_first,
)
from .extend_operation import ExtendOperation
from .live_check import LiveCheck
from .models import ApprovalInfo, ExtendResult, RestoreRequest, SnapshotInfo, VolumeSummary
from .scp import MAX_VOLUME_SIZE_GB, MIN_EXTEND_TARGET_GB, SIZE_STEP_GB, Volume
from .snapshots import age_s, restore_request
from .tool_context import Ctx, Refused, VolumeId, app_state, devices, start_attempt, text_result
from .waiting import PhasedProgress, Progress

NewSize = Annotated[
    int,
    Strict(),
    Field(
        ge=MIN_EXTEND_TARGET_GB,
        le=MAX_VOLUME_SIZE_GB,
        multiple_of=SIZE_STEP_GB,
        description=f"The new total size in GB: larger than the current size, a multiple of {SIZE_STEP_GB}, at "
        f"most {MAX_VOLUME_SIZE_GB} (the platform's largest volume)",
    ),
]
Wait = Annotated[bool, Field(description="Wait until the platform reports the new size, with progress updates")]
TimeoutS = Annotated[
    float,
    Field(
        gt=0,
        le=3600,
        description="How long to wait, in seconds, for the snapshot taken first and, when wait is true, the resize",
    ),
]
SnapshotFirstArg = Annotated[bool, Field(description=messages.SNAPSHOT_FIRST_DESCRIPTION)]


async def extend_volume(
    volume_id: VolumeId,
    new_size_gb: NewSize,
    confirm: Confirm,
    ctx: Ctx,
    check: Annotated[LiveCheck, Resolve(extension_check_with_snapshot)],
    approval: Annotated[ElicitationResult[BaseModel], Resolve(confirmation)],
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
    snapshot_first: SnapshotFirstArg = False,
) -> Annotated[CallToolResult, ExtendResult]:
    return await _extend(ctx, check, approval, new_size_gb, wait, timeout_s, snapshot_first)


async def extend_volume_without_snapshot(
    volume_id: VolumeId,
    new_size_gb: NewSize,
    confirm: Confirm,
    ctx: Ctx,
    check: Annotated[LiveCheck, Resolve(extension_check)],
    approval: Annotated[ElicitationResult[BaseModel], Resolve(confirmation_without_snapshot)],
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
) -> Annotated[CallToolResult, ExtendResult]:
    """`extend_volume` as offered under SCP_SNAPSHOT_POLICY=off: no `snapshot_first` in its schema."""
    return await _extend(ctx, check, approval, new_size_gb, wait, timeout_s, False)


async def _extend(
    ctx: Ctx,
    check: LiveCheck,
    approval: ElicitationResult[BaseModel],
    new_size_gb: int,
    wait: bool,
    timeout_s: float,
    snapshot_first: bool,
) -> CallToolResult:
    state = app_state(ctx)
    first = takes_snapshot_first(state.settings.snapshot_policy, snapshot_first) or _snapshot_asked(approval)
    attempt = start_attempt(ctx, check, new_size_gb, snapshot_first=first)
    declined = not_confirmed(approval)
    if check.assessment.verdict == "unchanged" or declined is not None:
        note = messages.NO_VALID_ANSWER if declined == "declined" and _odd_answer(approval) else None
        report = ExtendReport(declined or "unchanged", check.volume, attempt, note=note)
        await write_outcome(state.audit, attempt.record("outcome", report.outcome))
        return extension_result(report)
    if isinstance(approval, AcceptedElicitation) and isinstance(approval.data, CardConsent):
        from .confirmation_card import show_card  # a host that renders MCP Apps: the person decides in the card

        return await show_card(ctx, check, attempt)
    if (rule := check.approval_rule) is not None:  # the team policy wants a second person: nothing is sent now
        from .approval_tools import request_approval  # only with [approval] rules

        return await request_approval(ctx, check, attempt, rule)
    attempt.confirmed_by = _confirmed_by(approval)
    report = await run_extension(ctx, state, check, attempt, wait=wait, timeout_s=timeout_s)
    return extension_result(report, snapshot_required=state.settings.snapshot_policy == "required")


async def run_extension(
    ctx: Ctx, state: AppState, check: LiveCheck, attempt: Attempt, *, wait: bool, timeout_s: float
) -> ExtendReport:
    """Run the confirmed extension under every guard of `ExtendOperation`; a refusal is a typed tool error.
    `state`: `app_state(ctx)`, as the caller read it."""
    phases = max(1, int(attempt.snapshot_first) + int(wait))
    progress: Progress = PhasedProgress(ctx.report_progress, total=timeout_s * phases)
    operation = ExtendOperation(state.scp, state.ledger, state.audit, check, attempt, timeout_s=timeout_s,
                                poll_s=state.settings.poll_interval_s, progress=progress)  # fmt: skip
    try:
        return await operation.run(wait=wait)
    except ExtendRefused as exc:  # nothing was sent: a typed refusal
        sizes = {"current_size_gb": attempt.previous_size_gb, "requested_size_gb": attempt.target_gb}
        raise Refused(exc.explained, exc.codes, volume_id=attempt.volume_id, **sizes,
                      per_volume_quota_gb=check.per_volume_quota_gb) from None  # fmt: skip
    except ExtendError as exc:
        raise ToolError(exc.explained) from None


def not_confirmed(approval: ElicitationResult[BaseModel]) -> Outcome | None:
    """`declined` or `cancelled` when the human did not say yes; None when the extension may go ahead."""
    if not isinstance(approval, AcceptedElicitation):
        return "declined" if approval.action == "decline" else "cancelled"
    answer = approval.data
    if isinstance(answer, ExtensionConfirmation) and answer.confirm is not True:
        return "declined"
    return None


def _snapshot_asked(approval: ElicitationResult[BaseModel]) -> bool:
    """The human chose "take a snapshot first" on the form that offered it (only the JSON `true` counts)."""
    answer = approval.data if isinstance(approval, AcceptedElicitation) else None
    return isinstance(answer, ExtensionConfirmationWithSnapshot) and answer.snapshot_first is True


def _odd_answer(approval: ElicitationResult[BaseModel]) -> bool:
    """An accepted form whose `confirm` is neither true nor false ("yes", 1, null): no valid answer, which
    is not the same as a human saying no (both send nothing)."""
    answer = approval.data if isinstance(approval, AcceptedElicitation) else None
    return isinstance(answer, ExtensionConfirmation) and answer.confirm is not True and answer.confirm is not False


def _confirmed_by(approval: ElicitationResult[BaseModel]) -> ConfirmedBy:
    asked = isinstance(approval, AcceptedElicitation) and isinstance(approval.data, ExtensionConfirmation)
    return "human" if asked else "flag"


def extension_result(
    report: ExtendReport,
    *,
    snapshot_required: bool = False,
    approval: ApprovalInfo | None = None,
    decision_line: str | None = None,
) -> CallToolResult:
    """The short summary of an extension (structured content plus text). `approval`: the second person's request
    behind it; `decision_line`: the sentence about a person's decision (an approval, a card), the only one while
    the outcome waits for it."""
    attempt, volume = report.attempt, report.volume
    summary = VolumeSummary.of(volume)
    completed = report.outcome == "completed"
    steps = (
        messages.next_steps(devices(summary), completed=completed) if completed or report.outcome == "accepted" else []
    )
    result = ExtendResult(
        outcome=report.outcome,
        volume_id=attempt.volume_id,
        name=summary.name,
        previous_size_gb=attempt.previous_size_gb,
        new_size_gb=attempt.target_gb,
        observed_size_gb=volume.size,
        state=summary.state,
        volume_type=summary.volume_type,
        encrypted=summary.encrypted,
        attachments=summary.attachments,
        max_iops=summary.max_iops,
        max_throughput=summary.max_throughput,
        api_version=attempt.api_version or "",
        confirmed_by=attempt.confirmed_by if report.outcome != "unchanged" else None,
        request_sent=attempt.sent,
        waited_s=round(report.waited_s, 2) if report.waited_s is not None else None,
        note=report.note,
        next_steps=steps,
        approval=approval,
        **_snapshot_fields(attempt, volume, snapshot_required),
    )
    lines = messages.result_lines(
        report.outcome,
        messages.volume_label(summary.name, attempt.volume_id),
        previous=attempt.previous_size_gb,
        target=attempt.target_gb,
        observed=volume.size,
        state=volume.state,
        note=report.note,
        steps=result.next_steps,
        snapshot_label=messages.snapshot_label(result.snapshot.name, result.snapshot.id) if result.snapshot else None,
        snapshot_required=snapshot_required,
        snapshot_reused_age_s=(result.snapshot.age_s or 0.0) if result.snapshot and attempt.snapshot_reused else None,
    )
    if decision_line is not None:
        waiting = report.outcome in ("awaiting_approval", "awaiting_confirmation")
        lines = [decision_line] if waiting else [*lines, decision_line]
    return text_result(result, "\n".join(lines))


def _snapshot_fields(attempt: Attempt, volume: Volume, snapshot_required: bool) -> dict[str, Any]:
    taken = attempt.snapshot
    if taken is None:
        return {}
    return {
        "snapshot": SnapshotInfo.of(taken, age_s(taken.created_at)),
        "snapshot_required_by_policy": snapshot_required,
        "way_back": RestoreRequest(body=restore_request(taken, volume)["body"]),
    }

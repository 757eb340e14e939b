"""The `extend_volume` tool: its resolvers (the live check that refuses before a human is asked, then the
confirmation), the extend operation's outcome as a result, and the audit records of each attempt, written
in this one place. The operation itself, with no MCP in it, is `extension.py`; the snapshot step is
`snapshots.py`."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Any, Literal, NoReturn

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, BeforeValidator, Field, Strict, WithJsonSchema

from . import messages, tracing
from .audit import AuditError, AuditRecord, Phase, new_attempt_id
from .extension import (
    Extension,
    ExtensionError,
    ExtensionRefused,
    ExtensionReport,
    LiveCheck,
    Outcome,
    Progress,
)
from .models import ExtendResult, RestoreRequest, SnapshotInfo, VolumeSummary
from .oauth import caller, missing_extend_scope
from .runtime import AppState
from .scp import MIN_EXTEND_TARGET_GB, SIZE_STEP_GB, ScpError, Volume
from .snapshots import PhasedProgress, SnapshotFirst, age_s, look_back, question_sentence, restore_request
from .team.database import DatabaseError
from .tool_support import Ctx, VolumeId, app_state, devices, live_check, scp_client, text_result

logger = logging.getLogger("scp_volume_mcp")

NewSize = Annotated[
    int,
    Strict(),
    Field(
        ge=MIN_EXTEND_TARGET_GB,
        multiple_of=SIZE_STEP_GB,
        description=f"The new total size in GB: larger than the current size and a multiple of {SIZE_STEP_GB}",
    ),
]
OUTCOME_WRITE_S = 30.0
"""The longest an audit write may take (a database trail may wait for a pooled connection)."""
INTERRUPTED_READ_BACK_S = 5.0
"""How long a cancelled call may take to read the volume back for its audit outcome."""


# The form shows a boolean; the answer is kept as given, so that only the JSON `true` approves (pydantic's
# lax bool would take "yes" or 1).
class ExtensionConfirmation(BaseModel):
    """What the human is asked (form elicitation)."""

    confirm: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "boolean",
                "title": messages.CONFIRM_FIELD_TITLE,
                "description": messages.CONFIRM_FIELD_DESCRIPTION,
            }
        ),
    ] = False


class Approval(BaseModel):
    """No question was needed: nothing to confirm, or the confirm flag stands."""


def _exactly_true(value: object) -> object:
    """An explicit confirmation is the JSON value `true`, not 1, 1.0 or "true"."""
    if value is not True:
        raise ValueError(messages.CONFIRM_MUST_BE_TRUE)
    return value


async def extension_check(volume_id: str, new_size_gb: int, ctx: Ctx) -> LiveCheck:
    """The live check, refusing (and auditing) anything that must not be sent, before a human is asked."""
    if missing_extend_scope():  # before anything is read: this caller may look, not extend
        raise ToolError(messages.MISSING_EXTEND_SCOPE)
    check = await live_check(volume_id, new_size_gb, ctx)
    if check.assessment.verdict == "refused":
        await _refuse(ctx, check, new_size_gb, messages.refusal(check.label, check.assessment.reasons))
    return check


def _can_elicit(ctx: Ctx) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def confirmation(
    check: Annotated[LiveCheck, Resolve(extension_check)], new_size_gb: int, ctx: Ctx, snapshot_first: bool
) -> Approval | Elicit[ExtensionConfirmation]:
    """Ask the human when the policy wants it and the client can; otherwise the confirm flag stands."""
    return await _confirmation(check, new_size_gb, ctx, snapshot_first)


async def confirmation_without_snapshot(
    check: Annotated[LiveCheck, Resolve(extension_check)], new_size_gb: int, ctx: Ctx
) -> Approval | Elicit[ExtensionConfirmation]:
    """`confirmation` for the tool without `snapshot_first` (SCP_SNAPSHOT_POLICY=off)."""
    return await _confirmation(check, new_size_gb, ctx, False)


async def _confirmation(
    check: LiveCheck, new_size_gb: int, ctx: Ctx, snapshot_first: bool
) -> Approval | Elicit[ExtensionConfirmation]:
    policy = app_state(ctx).settings.confirmation
    with tracing.span("scp_volume_mcp.confirmation", **{"scp.policy": policy}) as span:
        decision = await _decide(check, new_size_gb, ctx, snapshot_first, policy)
        span.set_attribute("scp.asked_human", isinstance(decision, Elicit))
        return decision


async def _decide(
    check: LiveCheck, new_size_gb: int, ctx: Ctx, snapshot_first: bool, policy: str
) -> Approval | Elicit[ExtensionConfirmation]:
    if check.assessment.verdict == "unchanged" or policy == "flag":
        return Approval()
    if _can_elicit(ctx):
        summary = VolumeSummary.of(check.volume)
        question = messages.confirmation_question(
            check.volume_id,
            current=check.volume.size,
            target=new_size_gb,
            name=summary.name,
            state=summary.state,
            where=summary.where(),
            way_back=await _way_back_question(ctx, check.volume_id, snapshot_first),
        )
        return Elicit(question, ExtensionConfirmation)
    if policy == "human":
        await _refuse(ctx, check, new_size_gb, messages.HUMAN_REQUIRED)
    return Approval()


Confirm = Annotated[Literal[True], BeforeValidator(_exactly_true), Field(description=messages.CONFIRM_DESCRIPTION)]
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
    check: Annotated[LiveCheck, Resolve(extension_check)],
    approval: Annotated[ElicitationResult[BaseModel], Resolve(confirmation)],
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
    snapshot_first: SnapshotFirstArg = False,
) -> Annotated[CallToolResult, ExtendResult]:
    return await _extend(volume_id, new_size_gb, ctx, check, approval, wait, timeout_s, snapshot_first)


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
    return await _extend(volume_id, new_size_gb, ctx, check, approval, wait, timeout_s, False)


async def _extend(
    volume_id: str,
    new_size_gb: int,
    ctx: Ctx,
    check: LiveCheck,
    approval: ElicitationResult[BaseModel],
    wait: bool,
    timeout_s: float,
    snapshot_first: bool,
) -> CallToolResult:
    state = app_state(ctx)
    if check.assessment.verdict == "unchanged":
        return await _not_sent(ctx, check, new_size_gb, "unchanged")
    if not isinstance(approval, AcceptedElicitation):
        return await _not_sent(ctx, check, new_size_gb, "declined" if approval.action == "decline" else "cancelled")
    answer = approval.data
    if isinstance(answer, ExtensionConfirmation) and answer.confirm is not True:
        return await _not_sent(ctx, check, new_size_gb, "declined")
    confirmed_by: Literal["human", "flag"] = "human" if isinstance(answer, ExtensionConfirmation) else "flag"
    audit = _Attempt(ctx, volume_id, new_size_gb)

    async def write_intent(volume: Volume) -> None:
        """Fail closed: no resize leaves unless its intent is on disk."""
        try:
            await audit.write("intent", previous_size_gb=volume.size, outcome=None, raise_errors=True)
        except AuditError as exc:
            message = messages.audit_unwritable(str(exc))
            raise ExtensionRefused(message, sent=False, previous_size_gb=volume.size) from None

    progress: Progress = ctx.report_progress
    if _snapshots_first(state, snapshot_first):
        progress = PhasedProgress(progress)  # the snapshot's wait, then the resize's, as one rising stream
    step = _snapshot_step(state, check, new_size_gb, snapshot_first, timeout_s, progress)
    operation = Extension(state.runtime, check, new_size_gb, before_send=write_intent, progress=progress,
                          snapshot_first=step)  # fmt: skip
    try:
        try:
            report = await operation.run(
                confirmed_by, wait=wait, timeout_s=timeout_s, poll_s=state.settings.poll_interval_s
            )
        except DatabaseError as exc:  # the lock or the pending record, before the PUT (nothing after it raises)
            message = messages.coordination_unavailable(str(exc))
            raise ExtensionRefused(message, sent=False, previous_size_gb=operation.previous_size) from None
    except ExtensionError as exc:
        await audit.write("outcome", previous_size_gb=exc.previous_size_gb, outcome="failed" if exc.sent else "refused",
                          http_status=exc.status, request_id=exc.request_id, detail=exc.message,
                          snapshot_id=exc.snapshot_id)  # fmt: skip
        raise ToolError(_with_snapshot_named(exc, step)) from None
    except BaseException:  # cancelled by the client, its disconnection or its session's end
        with anyio.CancelScope(shield=True):
            await audit.write_interrupted(operation)
        raise
    confirmed = confirmed_by if report.outcome != "unchanged" else None
    return await _result(ctx, report, new_size_gb, confirmed, audit, step)


class _Attempt:
    """The audit records of one extend_volume call, sharing one attempt id; written in this one place."""

    def __init__(self, ctx: Ctx, volume_id: str, target: int) -> None:
        self.ctx, self.volume_id, self.target = ctx, volume_id, target
        self.attempt_id = new_attempt_id()
        self.caller = caller()

    async def write(self, phase: Phase, *, raise_errors: bool = False, **fields: Any) -> None:
        """Write one record; after the fact a failure is logged loudly (the request may already be sent)."""
        state = app_state(self.ctx)
        try:
            params = self.ctx.session.client_params
        except ValueError:  # called outside an MCP request (MCPServer.call_tool from Python)
            params = None
        record = AuditRecord(
            phase=phase,
            attempt_id=self.attempt_id,
            tool="extend_volume",
            volume_id=self.volume_id,
            requested_size_gb=self.target,
            api_version=state.runtime.api_version,
            client_claimed=params.client_info.name if params is not None else None,
            caller=self.caller,
            **fields,
        )
        try:
            # An outcome is written whatever happens to the call: a cancellation (the client's, or its
            # disconnection) must not interrupt it, though a stuck trail must not hold the call forever.
            with anyio.move_on_after(OUTCOME_WRITE_S, shield=phase == "outcome") as scope:
                await state.audit.write(record)
            if scope.cancelled_caught:
                raise AuditError(f"writing the audit {phase} took longer than {OUTCOME_WRITE_S:g} s")
        except (AuditError, UnicodeError) as exc:
            if raise_errors:
                raise AuditError(str(exc)) from None
            logger.error("%s; this extension attempt's %s is not in the audit trail", exc, phase)

    async def write_interrupted(self, operation: Extension) -> None:
        """The call ended under us. Say whether a resize was sent and, if so, what a quick read shows now."""
        seen = None
        if operation.sent:
            with anyio.move_on_after(INTERRUPTED_READ_BACK_S), contextlib.suppress(ScpError):
                seen = await operation.scp.show_volume(self.volume_id)
        detail = messages.interrupted(operation.sent, seen.size if seen else None, seen.state if seen else None)
        await self.write("outcome", previous_size_gb=operation.previous_size, outcome="interrupted",
                         http_status=operation.status, request_id=operation.request_id, detail=detail,
                         snapshot_id=operation.snapshot_id)  # fmt: skip


async def _not_sent(ctx: Ctx, check: LiveCheck, target: int, outcome: Outcome) -> CallToolResult:
    attempt = _Attempt(ctx, check.volume_id, target)
    return await _result(ctx, ExtensionReport.nothing_sent(outcome, check), target, None, attempt)


async def _result(
    ctx: Ctx,
    report: ExtensionReport,
    target: int,
    confirmed_by: Literal["human", "flag"] | None,
    audit: _Attempt,
    step: SnapshotFirst | None = None,
) -> CallToolResult:
    outcome = report.outcome
    volume = report.volume
    summary = VolumeSummary.of(volume)
    sent_growth = outcome in ("completed", "accepted")
    result = ExtendResult(
        outcome=outcome,
        volume_id=report.volume_id,
        name=summary.name,
        previous_size_gb=report.previous_size_gb,
        new_size_gb=target,
        observed_size_gb=volume.size,
        state=summary.state,
        volume_type=summary.volume_type,
        encrypted=summary.encrypted,
        attachments=summary.attachments,
        max_iops=summary.max_iops,
        max_throughput=summary.max_throughput,
        api_version=scp_client(app_state(ctx)).api.version,
        confirmed_by=confirmed_by,
        request_sent=report.sent,
        waited_s=round(report.waited_s, 2) if report.waited_s is not None else None,
        note=report.note,
        next_steps=messages.next_steps(devices(summary), completed=outcome == "completed") if sent_growth else [],
        **_result_snapshot_fields(ctx, step, volume),
    )
    await audit.write("outcome", previous_size_gb=report.previous_size_gb, outcome=outcome, http_status=report.status,
                      request_id=report.request_id, detail=report.note, snapshot_id=report.snapshot_id)  # fmt: skip
    lines = messages.result_lines(
        outcome,
        messages.volume_label(summary.name, report.volume_id),
        previous=report.previous_size_gb,
        target=target,
        observed=volume.size,
        state=volume.state,
        note=report.note,
        steps=result.next_steps,
    )
    if result.snapshot is not None:
        label = messages.snapshot_label(result.snapshot.name, result.snapshot.id)
        lines = _with_way_back(lines, messages.snapshot_taken_line(label, result.snapshot_required_by_policy))
    return text_result(result, "\n".join(lines))


async def _refuse(ctx: Ctx, check: LiveCheck, target: int, message: str) -> NoReturn:
    """Audit an attempt refused before anything was sent, and raise the tool error."""
    attempt = _Attempt(ctx, check.volume_id, target)
    await attempt.write("outcome", previous_size_gb=check.volume.size, outcome="refused", detail=message)
    raise ToolError(message)


# --- snapshots: the way back (see snapshots.py) --------------------------------------------------


def _snapshots_first(state: AppState, snapshot_first: bool) -> bool:
    """Whether this extension snapshots first: the policy's `required` wins over the argument."""
    policy = state.settings.snapshot_policy
    return policy == "required" or (policy == "optional" and snapshot_first)


async def _way_back_question(ctx: Ctx, volume_id: str, snapshot_first: bool) -> str:
    state = app_state(ctx)
    if _snapshots_first(state, snapshot_first):
        return question_sentence(None)
    return question_sentence(await look_back(scp_client(state), volume_id))


def _snapshot_step(
    state: AppState, check: LiveCheck, target: int, snapshot_first: bool, timeout_s: float, progress: Progress
) -> SnapshotFirst | None:
    if not _snapshots_first(state, snapshot_first):
        return None
    return SnapshotFirst(
        scp_client(state), check.volume_id, target, timeout_s=timeout_s, poll_s=state.settings.poll_interval_s,
        progress=progress,
    )  # fmt: skip


def _result_snapshot_fields(ctx: Ctx, step: SnapshotFirst | None, volume: Volume) -> dict[str, Any]:
    state = app_state(ctx)
    taken = step.taken if step is not None else None
    if taken is None:
        return {}
    return {
        "snapshot": SnapshotInfo.of(taken, age_s(taken.created_at)),
        "snapshot_required_by_policy": state.settings.snapshot_policy == "required",
        "way_back": RestoreRequest(body=restore_request(taken, volume)["body"]),
    }


def _with_way_back(lines: list[str], line: str) -> list[str]:
    """The way-back line takes the place of the generic "only way back is a snapshot" line (at most 3 lines)."""
    if messages.IRREVERSIBLE in lines:
        return [line if existing == messages.IRREVERSIBLE else existing for existing in lines]
    return [*lines[:2], line]


def _with_snapshot_named(exc: ExtensionError, step: SnapshotFirst | None) -> str:
    """A resize that failed after its snapshot was taken says where the way back is."""
    taken = step.taken if step is not None else None
    if exc.sent and taken is not None:
        return exc.message + messages.snapshot_before_failure(messages.snapshot_label(taken.name, taken.id))
    return exc.message

"""The `extend_volume` tool, a thin adapter on the extension service: its resolvers decide how consent is had and
read what a question needs (`consent`), its body turns the answer into the request and calls the one path
(`extension.extend`), and every report becomes one result (`extension.summarize`)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import AcceptedElicitation, ElicitationResult, Resolve
from mcp.types import CallToolResult
from pydantic import BaseModel, Field, Strict

from .. import messages
from ..extension import Decision, ExtensionReport, Run, conclude, extend, summarize
from ..extension.waiting import PhasedProgress
from ..models import ConfirmedBy, ExtendResult, Outcome
from ..scp import MAX_VOLUME_SIZE_GB, MIN_EXTEND_TARGET_GB, SIZE_STEP_GB
from .card import show_card
from .consent import (
    CardConsent,
    Checked,
    Confirm,
    ExtensionConfirmation,
    ExtensionConfirmationWithSnapshot,
    confirmation,
    confirmation_without_snapshot,
    extension_check,
    extension_check_without_snapshot,
)
from .context import Ctx, VolumeId, app_state, text_result

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
Answer = ElicitationResult[BaseModel]


async def extend_volume(
    volume_id: VolumeId,
    new_size_gb: NewSize,
    confirm: Confirm,
    ctx: Ctx,
    checked: Annotated[Checked, Resolve(extension_check)],
    answer: Annotated[Answer, Resolve(confirmation)],
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
    snapshot_first: SnapshotFirstArg = False,
) -> Annotated[CallToolResult, ExtendResult]:
    return await _extend(ctx, checked, answer, wait, timeout_s)


async def extend_volume_without_snapshot(
    volume_id: VolumeId,
    new_size_gb: NewSize,
    confirm: Confirm,
    ctx: Ctx,
    checked: Annotated[Checked, Resolve(extension_check_without_snapshot)],
    answer: Annotated[Answer, Resolve(confirmation_without_snapshot)],
    wait: Wait = False,
    timeout_s: TimeoutS = 300.0,
) -> Annotated[CallToolResult, ExtendResult]:
    """`extend_volume` as offered under SCP_SNAPSHOT_POLICY=off: no `snapshot_first` in its schema."""
    return await _extend(ctx, checked, answer, wait, timeout_s)


async def _extend(ctx: Ctx, checked: Checked, answer: Answer, wait: bool, timeout_s: float) -> CallToolResult:
    state = app_state(ctx)
    services, request, check = state.services, checked.request, checked.check
    verdict = check.assessment.verdict if check is not None else None
    if check is not None and (verdict == "unchanged" or verdict == "under_way"):  # nothing to send; nobody asked
        under_way = check.assessment.under_way
        return result_of(await conclude(services, request, check.volume, verdict, under_way=under_way))
    if check is not None and (declined := not_confirmed(answer)) is not None:
        note = messages.NO_VALID_ANSWER if declined == "declined" and _odd_answer(answer) else None
        return result_of(await conclude(services, request, check.volume, declined, note))
    if check is not None and isinstance(answer, AcceptedElicitation) and isinstance(answer.data, CardConsent):
        return await show_card(ctx, check, request)
    request = request.confirmed(_confirmed_by(answer), snapshot_first=request.snapshot_first or _snapshot_asked(answer))
    phases = max(1, int(request.snapshot_first) + int(wait))
    progress = PhasedProgress(ctx.report_progress, total=timeout_s * phases)
    report = await extend(services, request, Run(wait, timeout_s, progress), checked.locked)
    return result_of(report, snapshot_required=services.snapshot_policy == "required")


def result_of(
    report: ExtensionReport, *, snapshot_required: bool = False, decision: Decision | None = None
) -> CallToolResult:
    """The one result of every extension, as an MCP tool result: structured content plus text."""
    result, text = summarize(report, snapshot_required=snapshot_required, decision=decision)
    return text_result(result, text)


def not_confirmed(answer: Answer) -> Outcome | None:
    """`declined` or `cancelled` when the person did not say yes; None when the extension may go ahead."""
    if not isinstance(answer, AcceptedElicitation):
        return "declined" if answer.action == "decline" else "cancelled"
    data = answer.data
    if isinstance(data, ExtensionConfirmation) and data.confirm is not True:
        return "declined"
    return None


def _snapshot_asked(answer: Answer) -> bool:
    """The person chose "take a snapshot first" on the form that offered it (only the JSON `true` counts)."""
    data = answer.data if isinstance(answer, AcceptedElicitation) else None
    return isinstance(data, ExtensionConfirmationWithSnapshot) and data.snapshot_first is True


def _odd_answer(answer: Answer) -> bool:
    """An accepted form whose `confirm` is neither true nor false ("yes", 1, null): no valid answer, which
    is not the same as a person saying no (both send nothing)."""
    data = answer.data if isinstance(answer, AcceptedElicitation) else None
    return isinstance(data, ExtensionConfirmation) and data.confirm is not True and data.confirm is not False


def _confirmed_by(answer: Answer) -> ConfirmedBy:
    asked = isinstance(answer, AcceptedElicitation) and isinstance(answer.data, ExtensionConfirmation)
    return "human" if asked else "flag"

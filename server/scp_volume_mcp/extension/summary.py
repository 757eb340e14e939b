"""The one result of an extension, whichever way it came in: a typed summary (`models.ExtendResult`) and a few
lines of text, read from the report and its attempt, never the raw API body. No MCP here: the adapters send it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from .. import messages
from ..models import ApprovalInfo, ExtendResult, RestoreRequest, SnapshotInfo, UnderWay, VolumeSummary
from ..oauth import APPROVE_SCOPE
from ..snapshots import age_s, restore_request
from ..team.approvals import ApprovalRequest
from ..untrusted_text import field, short
from .attempt import Attempt, ExtensionReport


@dataclass(frozen=True)
class Decision:
    """A person's decision behind the result: the sentence about it (an approval, a card), which is the only
    line while the outcome waits for it, and the second person's request, if any."""

    line: str
    approval: ApprovalInfo | None = None


def summarize(
    report: ExtensionReport, *, snapshot_required: bool = False, decision: Decision | None = None
) -> tuple[ExtendResult, str]:
    """The result and its text (one to three lines, with the decision's line after them)."""
    if report.approval is not None and decision is None:
        decision = _awaiting_approval(report, report.approval)
    attempt, volume = report.attempt, report.volume
    summary = VolumeSummary.of(volume)
    completed = report.outcome == "completed"
    devices = [a.device for a in summary.attachments]
    steps = messages.next_steps(devices, completed=completed) if completed or report.outcome == "accepted" else []
    note = messages.under_way_note(report.under_way) if report.under_way is not None else report.note
    result = ExtendResult(
        outcome=report.outcome,
        volume_id=attempt.volume_id,
        name=summary.name,
        previous_size_gb=attempt.previous_size_gb if attempt.previous_size_gb is not None else volume.size,
        new_size_gb=attempt.target_gb,
        observed_size_gb=volume.size,
        state=summary.state,
        volume_type=summary.volume_type,
        encrypted=summary.encrypted,
        attachments=summary.attachments,
        max_iops=summary.max_iops,
        max_throughput=summary.max_throughput,
        api_version=attempt.api_version or "",
        confirmed_by=attempt.confirmed_by if report.outcome not in ("unchanged", "under_way") else None,
        request_sent=attempt.sent,
        waited_s=round(report.waited_s, 2) if report.waited_s is not None else None,
        note=note,
        next_steps=steps,
        approval=decision.approval if decision is not None else None,
        under_way=_under_way(report),
        **_snapshot_fields(attempt, volume, snapshot_required),
    )
    lines = messages.result_lines(
        report.outcome,
        messages.volume_label(summary.name, attempt.volume_id),
        previous=result.previous_size_gb,
        target=attempt.target_gb,
        observed=volume.size,
        state=volume.state,
        note=note,
        steps=result.next_steps,
        snapshot_label=messages.snapshot_label(result.snapshot.name, result.snapshot.id) if result.snapshot else None,
        snapshot_required=snapshot_required,
        snapshot_reused_age_s=(result.snapshot.age_s or 0.0) if result.snapshot and attempt.snapshot_reused else None,
    )
    if decision is not None:
        waiting = report.outcome in ("awaiting_approval", "awaiting_confirmation")
        lines = [decision.line] if waiting else [*lines, decision.line]
    return result, "\n".join(lines)


def approval_info(request: ApprovalRequest, approver: str | None = None) -> ApprovalInfo:
    """A second person's request as results show it."""
    return ApprovalInfo(request_id=request.request_id, rule=request.rule, requester=request.requester,
                        approver=approver, expires_at=expires_at(request), approver_scope=APPROVE_SCOPE)  # fmt: skip


def expires_at(request: ApprovalRequest) -> str:
    return request.expires_at.astimezone(UTC).isoformat(timespec="seconds")


def _awaiting_approval(report: ExtensionReport, filed: ApprovalRequest) -> Decision:
    """What an extension sent to a second person says: who may decide, and until when."""
    label = messages.volume_label(report.volume.name, filed.volume_id)
    line = messages.awaiting_approval(label, previous=filed.previous_size_gb, target=filed.requested_size_gb,
                                      rule=filed.rule, request_id=filed.request_id, requester=filed.requester,
                                      expires_at=expires_at(filed), scope=APPROVE_SCOPE)  # fmt: skip
    return Decision(line, approval_info(filed))


def _under_way(report: ExtensionReport) -> UnderWay | None:
    open_attempt = report.under_way
    if open_attempt is None:
        return None
    started = open_attempt.started_at.isoformat(timespec="seconds")
    # From the trail, which other processes write: cleaned and bounded like platform text.
    return UnderWay(attempt_id=short(open_attempt.attempt_id), started_at=started, replica=field(open_attempt.replica))


def _snapshot_fields(attempt: Attempt, volume: Any, snapshot_required: bool) -> dict[str, Any]:
    taken = attempt.snapshot
    if taken is None:
        return {}
    return {
        "snapshot": SnapshotInfo.of(taken, age_s(taken.created_at)),
        "snapshot_required_by_policy": snapshot_required,
        "way_back": RestoreRequest(body=restore_request(taken, volume)["body"]),
    }

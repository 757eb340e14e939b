"""A plan: the facts an extension would be judged by (the live check and the way back), read side by side, and
the plan they make (`models.ExtensionPlan` and its text). Shared by `plan_volume_extension` and the card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import messages
from ..extension import LiveCheck, check_volume
from ..models import ExtendCall, ExtensionPlan, SnapshotInfo, SnapshotQuotaInfo, VolumeSummary
from ..settings import SnapshotPolicy
from ..side_by_side import side_by_side
from ..snapshots import WayBack, latest_snapshot, snapshot_quota_of
from .context import Ctx, VolumeId, app_state, scp_client, scp_errors


@dataclass(frozen=True)
class PlanFacts:
    """What a plan reads: the live check (volume and quota judged) and the way back."""

    check: LiveCheck
    back: WayBack


async def plan_check(volume_id: VolumeId, new_size_gb: int, ctx: Ctx) -> PlanFacts:
    """The plan's reads, side by side and once each: the volume, the quota set (one read serves the per-volume
    limit and the snapshot count) and the latest snapshot; then the volume and quota judged against the size."""
    state = app_state(ctx)
    with scp_errors(volume_id):
        client = state.scp.client()
        check, (latest, problem) = await side_by_side(
            check_volume(state.scp, state.ledger, volume_id, new_size_gb, quota_set=True, policy=state.settings.policy),
            latest_snapshot(client, volume_id),
        )
    quota = snapshot_quota_of(check.quota_set.quota if check.quota_set else None)
    return PlanFacts(check, WayBack(latest, quota, problem))


async def plan_facts_of(ctx: Ctx, check: LiveCheck) -> PlanFacts:
    """The plan's facts for a volume already checked (the confirmation card of `extend_volume`): only the way
    back is read now, and the quota set beside it when the check did not read it."""
    state = app_state(ctx)
    with scp_errors(check.volume_id):
        client = state.scp.client()
        if check.quota_set is not None:
            latest, problem = await latest_snapshot(client, check.volume_id)
            quota_set = check.quota_set.quota
        else:
            (latest, problem), quota_set = await side_by_side(latest_snapshot(client, check.volume_id),
                                                              state.scp.quota_set())  # fmt: skip
    return PlanFacts(check, WayBack(latest, snapshot_quota_of(quota_set), problem))


def extension_plan(ctx: Ctx, facts: PlanFacts, volume_id: str, new_size_gb: int) -> tuple[ExtensionPlan, str]:
    """The plan and its text, from the facts read (the plan tool's, and the confirmation card's)."""
    check, back = facts.check, facts.back
    volume, assessment = check.volume, check.assessment
    summary = VolumeSummary.of(volume)
    accepted = assessment.verdict == "extend"
    settings = app_state(ctx).settings
    offered = accepted and not settings.read_only  # read-only: no call, no guest step, no snapshot_first
    plan = ExtensionPlan(
        volume=summary,
        current_size_gb=volume.size,
        target_size_gb=new_size_gb,
        growth_gb=new_size_gb - volume.size,
        would_be_accepted=accepted,
        outcome_if_called=assessment.verdict,
        reasons=assessment.reasons,
        per_volume_quota_gb=check.per_volume_quota_gb,
        call=ExtendCall(arguments={"volume_id": volume_id, "new_size_gb": new_size_gb, "confirm": True})
        if offered
        else None,
        api_version=scp_client(app_state(ctx)).api.version,
        next_steps=messages.next_steps([a.device for a in summary.attachments], completed=True) if offered else [],
        read_only=settings.read_only,
        policy_rules=check.policy_rules if assessment.verdict != "unchanged" else [],
        **_plan_snapshot_fields(back, settings.snapshot_policy),
    )
    text = messages.plan_text(
        summary.label,
        assessment.verdict,
        current=volume.size,
        target=new_size_gb,
        where=summary.where,
        state=volume.state,
        volume_id=volume_id,
        reasons=assessment.reasons,
        read_only=settings.read_only,
    )
    if check.per_volume_quota_gb is None and assessment.verdict != "unchanged":
        text += " " + messages.quota_not_applied(app_state(ctx).scp.quota_unstated)
    if not accepted:  # nothing would happen: no way back to warn about
        return plan, text
    policy = "off" if settings.read_only else settings.snapshot_policy  # read-only: snapshot_first is not offered
    return plan, f"{text}\n{messages.plan_way_back(back, policy)}"


def _plan_snapshot_fields(back: WayBack, policy: SnapshotPolicy) -> dict[str, Any]:
    latest = SnapshotInfo.of(back.latest, back.latest_age_s) if back.latest is not None else None
    quota = back.quota
    return {
        "latest_snapshot": latest,
        "snapshots_readable": back.problem is None,
        "snapshot_quota": SnapshotQuotaInfo(limit=quota.limit, in_use=quota.in_use, full=quota.full) if quota else None,
        "snapshot_policy": policy,
    }

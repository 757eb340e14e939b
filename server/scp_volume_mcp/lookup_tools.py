"""The read-only tools: `list_volumes`, `get_volume` and `plan_volume_extension`. They change nothing and never
need the audit trail or the team database (a plan reads the open attempts there when it can, to name one that
blocks the volume); every platform text in their results has passed `untrusted_text`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Resolve
from mcp.types import CallToolResult
from pydantic import Field

from . import messages
from .live_check import LiveCheck, check_volume
from .models import ExtendCall, ExtensionPlan, SnapshotInfo, SnapshotQuotaInfo, VolumeList, VolumeSummary
from .scp import KNOWN_STATES, LIST_PAGE_SIZE_MAX, MAX_VOLUME_SIZE_GB, classify_state, known_spelling
from .settings import SnapshotPolicy
from .side_by_side import side_by_side
from .snapshots import WayBack, latest_snapshot, snapshot_quota_of
from .tool_context import Ctx, VolumeId, app_state, devices, scp_client, scp_errors, text_result


async def list_volumes(
    ctx: Ctx,
    name: Annotated[
        str | None, Field(max_length=255, description="Only volumes with exactly this name (at most 255 characters)")
    ] = None,
    state: Annotated[
        str | None,
        Field(
            max_length=64,
            description=f"Only volumes in this state, e.g. {', '.join(KNOWN_STATES[:4])} (at most 64 characters)",
        ),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=LIST_PAGE_SIZE_MAX, description="At most this many volumes")] = 50,
) -> Annotated[CallToolResult, VolumeList]:
    client = scp_client(app_state(ctx))
    state = known_spelling(state) if state is not None else None  # states compare whatever their spelling
    with scp_errors():
        volumes = await client.list_volumes(name=name, state=state, max_items=limit + 1)
    summaries = [VolumeSummary.of(v) for v in volumes[:limit]]
    result = VolumeList(volumes=summaries, returned=len(summaries), truncated=len(volumes) > limit)
    shown = [messages.list_entry(v.name, v.id, v.size_gb, v.state) for v in summaries[:10]]
    unknown = state if state is not None and classify_state(state) == "unknown" else None
    text = messages.list_text(shown, total=len(summaries), truncated=result.truncated, unknown_state=unknown)
    return text_result(result, text)


async def get_volume(volume_id: VolumeId, ctx: Ctx) -> Annotated[CallToolResult, VolumeSummary]:
    client = scp_client(app_state(ctx))
    with scp_errors(volume_id):
        summary = VolumeSummary.of(await client.show_volume(volume_id))
    text = messages.volume_text(messages.summary_label(summary), summary.size_gb, summary.state,
                                messages.summary_where(summary),
                                volume_type=summary.volume_type, encrypted=summary.encrypted,
                                max_iops=summary.max_iops, max_throughput=summary.max_throughput)  # fmt: skip
    return text_result(summary, text)


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


async def plan_volume_extension(
    volume_id: VolumeId,
    new_size_gb: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_VOLUME_SIZE_GB,
            description=f"The new total size in GB you consider (at most {MAX_VOLUME_SIZE_GB}, the platform's largest "
            "volume)",
        ),
    ],
    ctx: Ctx,
    facts: Annotated[PlanFacts, Resolve(plan_check)],
) -> Annotated[CallToolResult, ExtensionPlan]:
    plan, text = extension_plan(ctx, facts, volume_id, new_size_gb)
    result = text_result(plan, text)
    if plan.would_be_accepted:
        from .confirmation_card import card_meta  # the card's token: for a client that renders apps, in _meta only

        result.meta = card_meta(ctx, facts.check)
    return result


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
        next_steps=messages.next_steps(devices(summary), completed=True) if offered else [],
        read_only=settings.read_only,
        policy_rules=check.policy_rules if assessment.verdict != "unchanged" else [],
        **_plan_snapshot_fields(back, settings.snapshot_policy),
    )
    text = messages.plan_text(
        messages.summary_label(summary),
        assessment.verdict,
        current=volume.size,
        target=new_size_gb,
        where=messages.summary_where(summary),
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

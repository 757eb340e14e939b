"""The MCP server: the read-only lookup tools, and `build_server`, which registers every tool.

Data flows one way: tool -> guards -> extend operation -> SCP client -> HTTP; no URL or header is built
here. The tools and resolvers read the `AppState` the lifespan yields (`tool_support`); `extend_volume`
lives in `extend_tool`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Resolve
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from . import messages
from .audit import AuditTrail, FileAuditTrail
from .audit.table_trail import TableAuditTrail
from .extend_tool import extend_volume, extend_volume_without_snapshot
from .extension import LiveCheck
from .models import ExtendCall, ExtensionPlan, SnapshotInfo, SnapshotQuotaInfo, VolumeList, VolumeSummary
from .oauth import OAuthSettings
from .runtime import AppState, Runtime, default_client_factory
from .scp import KNOWN_STATES, LIST_PAGE_SIZE_MAX, classify_state
from .settings import ServerSettings, SnapshotPolicy
from .snapshots import WayBack, look_back, plan_line
from .team.coordinator import TeamCoordinator
from .team.database import Database
from .tool_support import (
    Ctx,
    VolumeId,
    VolumeServer,
    app_state,
    devices,
    live_check,
    scp_client,
    scp_errors,
    text_result,
)

if TYPE_CHECKING:
    from .scp import ScpClient

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
EXTEND = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)

__all__ = ["VolumeServer", "build_server"]


async def list_volumes(
    ctx: Ctx,
    name: Annotated[
        str | None, Field(max_length=255, description="Only volumes with exactly this name (at most 255 characters)")
    ] = None,
    state: Annotated[
        str | None, Field(description=f"Only volumes in this state, e.g. {', '.join(KNOWN_STATES[:4])}")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=LIST_PAGE_SIZE_MAX, description="At most this many volumes")] = 50,
) -> Annotated[CallToolResult, VolumeList]:
    client = scp_client(app_state(ctx))
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
    text = messages.volume_text(summary.label(), summary.size_gb, summary.state, summary.where(),
                                volume_type=summary.volume_type, encrypted=summary.encrypted,
                                max_iops=summary.max_iops, max_throughput=summary.max_throughput)  # fmt: skip
    return text_result(summary, text)


async def plan_volume_extension(
    volume_id: VolumeId,
    new_size_gb: Annotated[int, Field(ge=1, description="The new total size in GB you consider")],
    ctx: Ctx,
    check: Annotated[LiveCheck, Resolve(live_check)],
) -> Annotated[CallToolResult, ExtensionPlan]:
    volume, assessment = check.volume, check.assessment
    summary = VolumeSummary.of(volume)
    accepted = assessment.verdict == "extend"
    policy = app_state(ctx).settings.snapshot_policy
    back = await look_back(scp_client(app_state(ctx)), volume_id)
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
        if accepted
        else None,
        api_version=scp_client(app_state(ctx)).api.version,
        next_steps=messages.next_steps(devices(summary), completed=True) if accepted else [],
        **_plan_snapshot_fields(back, policy),
    )
    text = messages.plan_text(
        summary.label(),
        assessment.verdict,
        current=volume.size,
        target=new_size_gb,
        where=summary.where(),
        state=volume.state,
        volume_id=volume_id,
        reasons=assessment.reasons,
    )
    if check.per_volume_quota_gb is None and assessment.verdict != "unchanged":
        text += " " + messages.quota_not_applied(app_state(ctx).runtime.quota_unstated)
    return text_result(plan, f"{text}\n{plan_line(back, policy)}")


def _plan_snapshot_fields(back: WayBack, policy: SnapshotPolicy) -> dict[str, Any]:
    latest = SnapshotInfo.of(back.latest, back.latest_age_s) if back.latest is not None else None
    quota = back.quota
    return {
        "latest_snapshot": latest,
        "snapshots_readable": back.problem is None,
        "snapshot_quota": SnapshotQuotaInfo(limit=quota.limit, in_use=quota.in_use, full=quota.full) if quota else None,
        "snapshot_policy": policy,
    }


# --- registration --------------------------------------------------------------------------------


def build_server(
    settings: ServerSettings | None = None,
    client_factory: Callable[[], ScpClient] = default_client_factory,
    *,
    oauth: OAuthSettings | None = None,
    state_keys: Sequence[str] | None = None,
) -> VolumeServer:
    """The MCP server with its tools; `extend_volume` is left out entirely in read-only mode."""
    settings = settings or ServerSettings()
    url = settings.database_url
    database = Database(url, lock_timeout_s=settings.lock_timeout_s) if url else None
    audit: AuditTrail = TableAuditTrail(database) if database is not None else FileAuditTrail(settings.audit_log)
    coordinator = TeamCoordinator(database) if database is not None else None
    state = AppState(settings, Runtime(client_factory, coordinator), audit)
    server = VolumeServer(state, oauth, state_keys)
    descriptions = messages.DESCRIPTIONS
    server.add_tool(list_volumes, title="List volumes", description=descriptions["list_volumes"],
                    annotations=READ_ONLY)  # fmt: skip
    server.add_tool(get_volume, title="Get volume", description=descriptions["get_volume"], annotations=READ_ONLY)
    server.add_tool(plan_volume_extension, title="Plan a volume extension",
                    description=descriptions["plan_volume_extension"], annotations=READ_ONLY)  # fmt: skip
    if not settings.read_only:
        extend = extend_volume if settings.snapshot_policy != "off" else extend_volume_without_snapshot
        server.add_tool(extend, name="extend_volume", title="Extend a volume",
                        description=descriptions["extend_volume"], annotations=EXTEND)  # fmt: skip
    return server

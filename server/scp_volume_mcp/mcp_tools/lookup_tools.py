"""The read-only tools: `list_volumes`, `get_volume` and `plan_volume_extension`. They change nothing and never
need the audit trail or the team database (a plan reads the open attempts there when it can, to name one that
blocks the volume); every platform text in their results has passed `untrusted_text`."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Resolve
from mcp.types import CallToolResult
from pydantic import Field

from .. import messages
from ..models import ExtensionPlan, VolumeList, VolumeSummary
from ..scp import KNOWN_STATES, LIST_PAGE_SIZE_MAX, MAX_VOLUME_SIZE_GB, classify_state, known_spelling
from .card import card_meta
from .context import Ctx, VolumeId, app_state, scp_client, scp_errors, text_result
from .plan import PlanFacts, extension_plan, plan_check


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
    text = messages.volume_text(summary.label, summary.size_gb, summary.state,
                                summary.where,
                                volume_type=summary.volume_type, encrypted=summary.encrypted,
                                max_iops=summary.max_iops, max_throughput=summary.max_throughput)  # fmt: skip
    return text_result(summary, text)


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
    if plan.would_be_accepted:  # the card's token: for a client that renders apps, in _meta only
        result.meta = card_meta(ctx, facts.check)
    return result

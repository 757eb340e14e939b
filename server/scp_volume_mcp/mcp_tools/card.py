"""The confirmation card (MCP Apps, `io.modelcontextprotocol/ui`): in a host that renders apps, a plan is a card
the person looks at, with Approve, Approve with a snapshot first, and Decline.

- `plan_volume_extension` and `extend_volume` name the card (`_meta.ui.resourceUri`), a `ui://` resource served
  as `text/html;profile=mcp-app` (`card.html`); hosts without apps show the text, as before.
- A plan that would be accepted, for a client that negotiated apps, carries a single-use token for the card in
  its result's `_meta` only (`card_tokens`): bound to the volume, both sizes and the session, valid minutes.
- The buttons call `decide_extension_card`, an app-only tool (visibility `["app"]`), a thin adapter on the
  extension service: it acts only on a valid token and runs the one path (`extension.extend`) with the size the
  card showed as the size approved from (the volume must still have it, under the lock). A click is a person's
  consent (`confirmed_by: human`).
"""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files
from typing import Annotated, Any, Literal

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ListToolsResult, ToolAnnotations
from mcp.types.version import is_version_at_least
from pydantic import Field

from .. import messages
from ..card_tokens import CardGrant, CardTokenError
from ..extension import (
    ApprovedSize,
    Decision,
    ExtensionReport,
    ExtensionRequest,
    LiveCheck,
    Run,
    conclude,
    extend,
    refuse,
    summarize,
)
from ..models import ExtendResult
from ..oauth import caller, missing_extend_scope
from .consent import QUESTION_IN_RESULT_VERSION
from .context import Ctx, app_state, request_of, text_result, volume_for_summary
from .plan import extension_plan, plan_facts_of

CARD_URI = "ui://scp-volume-mcp/confirm-extension.html"
CARD_META = "io.github.scp-volume-mcp/card"
"""The key of the card's token in a tool result's `_meta`."""
CARD_TOOL = "decide_extension_card"
UI_META: dict[str, Any] = {"ui": {"resourceUri": CARD_URI}, "ui/resourceUri": CARD_URI}
"""The `_meta` of the tools whose results the card shows: the spec's `ui.resourceUri`, and beside it the flat
`ui/resourceUri` key that hosts built before the nested one read (deprecated by the spec, still read)."""

Token = Annotated[str, Field(max_length=1000, description="The token the card received with the plan")]
Choice = Annotated[
    Literal["approve", "approve_with_snapshot", "decline"],
    Field(description="The button the person pressed"),
]


CARD_TOOL_META: dict[str, Any] = {"ui": {"resourceUri": CARD_URI, "visibility": ["app"]}, "ui/resourceUri": CARD_URI}
"""The `_meta` of the card's own tool: hosts list it for the card, never for the model (and the flat key too)."""
CARD_TOOL_ANNOTATIONS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                                        open_world_hint=True)  # fmt: skip


def card_extension() -> Apps:
    """The MCP Apps extension with the card's resource (the server adds the card's tool after its own, unless it
    is read-only: `server.build_server`)."""
    apps = Apps()
    html = files(__package__ or "scp_volume_mcp.mcp_tools").joinpath("card.html").read_text(encoding="utf-8")
    apps.add_html_resource(CARD_URI, html, name="confirm-extension", title="Volume extension card",
                           description=messages.CARD_DESCRIPTION, prefers_border=True)  # fmt: skip
    return apps


def card_meta(ctx: Ctx, check: LiveCheck) -> dict[str, Any] | None:
    """The card's token for a plan that would be accepted, when the client renders apps; None otherwise."""
    state = app_state(ctx)
    if state.settings.read_only or check.assessment.verdict != "extend" or not client_supports_apps(ctx):
        return None
    grant = CardGrant(check.volume_id, check.volume.size, check.requested_gb)
    token, expires = state.card_tokens.issue(grant, session_of(ctx))
    card = {"token": token, "expires_at": expires, "tool": CARD_TOOL, "snapshot": state.settings.snapshot_policy}
    return {CARD_META: card}


async def show_card(ctx: Ctx, check: LiveCheck, request: ExtensionRequest) -> CallToolResult:
    """`extend_volume` in a host that renders apps: nothing is sent; the result shows the card with the plan,
    and the person's button does the rest (`decide_extension_card`)."""
    facts = await plan_facts_of(ctx, check)  # the way back (the volume was just read)
    plan, _ = extension_plan(ctx, facts, check.volume_id, check.requested_gb)
    report = await conclude(
        app_state(ctx).services, request, check.volume, "awaiting_confirmation", "shown in the card"
    )
    waiting = messages.awaiting_card(check.label, check.volume.size, check.requested_gb)
    result = _result(report, Decision(waiting))
    meta = card_meta(ctx, check)  # the check this call passed: its verdict was "extend"
    if meta is None:  # cannot happen: the card is shown only to a client that renders apps, for a size it takes
        raise ToolError(messages.card_unusable("this client does not render the card"))
    meta[CARD_META]["plan"] = plan.model_dump(mode="json")  # what the card shows; the model reads neither
    result.meta = meta
    return result


def session_of(ctx: Ctx) -> str:
    """What a card's token is bound to: the OAuth caller, and the connection where the protocol has one (the
    HTTP session id, or the connection of a client that began with `initialize`: stdio, HTTP with sessions).
    From protocol 2026-07-28 on, which has no sessions, a card is bound to the caller and to this server
    process (its key); without OAuth, to the process only: any client of it that holds the token can press."""
    state = app_state(ctx)
    parts = [caller() or ""]
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    http_session = headers.get("mcp-session-id") if headers is not None else None
    version = ctx.protocol_version
    if http_session:
        parts.append(f"http:{http_session}")
    elif version is not None and not is_version_at_least(version, QUESTION_IN_RESULT_VERSION):
        # The SDK makes a ServerSession per request; the connection behind it lives as long as the client's
        # `initialize`. MCPServer's Context offers no public handle to it: read it here, and only here.
        connection = getattr(ctx.session, "_connection", None)
        if connection is not None:
            parts.append(f"connection:{state.card_tokens.session_name(connection)}")
    return "|".join(parts)


async def decide_extension_card(token: Token, choice: Choice, ctx: Ctx) -> Annotated[CallToolResult, ExtendResult]:
    if missing_extend_scope():
        raise ToolError(messages.MISSING_EXTEND_SCOPE)
    state = app_state(ctx)
    try:
        grant = state.card_tokens.redeem(token, session_of(ctx))
    except CardTokenError as exc:
        if exc.grant is None:  # not a token this server signed: nothing to put on record
            raise ToolError(messages.card_unusable(str(exc))) from None
        # expired, used, another session's: refused, and on record
        await refuse(state.services, _request(ctx, exc.grant), None, messages.card_unusable(str(exc)), ["card"],
                     current_size_gb=exc.grant.current_gb)  # fmt: skip
    request = _request(ctx, grant, snapshot_first=choice == "approve_with_snapshot")
    if choice == "decline":  # nothing will be sent: no read of the platform needed to say so
        volume = await volume_for_summary(state, grant.volume_id, size=grant.current_gb)
        report = await conclude(state.services, request, volume, "declined", "declined in the confirmation card")
        return _result(report)
    report = await extend(state.services, request.confirmed("human"), Run())
    return _result(report, snapshot_required=state.settings.snapshot_policy == "required")


def _request(ctx: Ctx, grant: CardGrant, *, snapshot_first: bool = False) -> ExtensionRequest:
    """The extension a press asks for: the sizes the card showed, the shown size as the one approved from."""
    request = request_of(ctx, grant.volume_id, grant.target_gb, snapshot_first=snapshot_first)
    return replace(request, approved_from=ApprovedSize(grant.current_gb))


def _result(report: ExtensionReport, decision: Decision | None = None, *, snapshot_required: bool = False
            ) -> CallToolResult:  # fmt: skip
    result, text = summarize(report, snapshot_required=snapshot_required, decision=decision)
    return text_result(result, text)


async def hide_from_other_hosts(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a client that does not render apps is not listed the card's tool (nor may it call it,
    nor is it named to it: `server.VolumeMCPServer.call_tool`). Such a host does not know `visibility`, and would
    show an app-only tool to its model."""
    if ctx.method != "tools/list" or client_supports_apps(ctx):  # a call of it: `server.VolumeMCPServer.call_tool`
        return await call_next(ctx)
    result = await call_next(ctx)
    if isinstance(result, ListToolsResult):
        return result.model_copy(update={"tools": [t for t in result.tools if t.name != CARD_TOOL]})
    if isinstance(result, dict) and isinstance(result.get("tools"), list):  # the SDK passes results serialized
        return {
            **result,
            "tools": [t for t in result["tools"] if not (isinstance(t, dict) and t.get("name") == CARD_TOOL)],
        }
    return result

"""Consent before every resize, as `extend_volume`'s resolvers: the live check that refuses (and audits) what
must not be sent before anyone is asked, then the question to the human (form elicitation) when the policy
wants it and the client can, else the `confirm` flag, which only the JSON value `true` satisfies."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NoReturn

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Elicit, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from . import messages, tracing
from .app_state import AppState
from .audit.writer import write_outcome
from .live_check import LiveCheck, check_volume
from .models import VolumeSummary
from .oauth import missing_extend_scope
from .settings import SnapshotPolicy
from .snapshots import look_back
from .tool_context import Ctx, Refused, app_state, scp_client, scp_errors, start_attempt

QUESTION_IN_RESULT_VERSION = "2026-07-28"
"""From this protocol version on, the question travels inside the tool result (`InputRequiredResult`) and
every request declares the client's capabilities; before it, `elicitation/create` is sent mid-call."""


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


class ExtensionConfirmationWithSnapshot(ExtensionConfirmation):
    """The question when the volume has no snapshot and the policy lets the human ask for one: the way back is
    offered beside yes and no. Only the JSON `true` asks for it."""

    snapshot_first: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "boolean",
                "title": messages.SNAPSHOT_FIELD_TITLE,
                "description": messages.SNAPSHOT_FIELD_DESCRIPTION,
                "default": False,
            }
        ),
    ] = False


class Approval(BaseModel):
    """No question was needed: nothing to confirm, or the confirm flag stands."""


class CardConsent(BaseModel):
    """The person confirms in the confirmation card (a host that renders MCP Apps): this call sends nothing and
    shows the card (`confirmation_card.show_card`)."""


def _exactly_true(value: object) -> object:
    """An explicit confirmation is the JSON value `true`, not 1, 1.0 or "true"."""
    if value is not True:
        raise ValueError(messages.CONFIRM_MUST_BE_TRUE)
    return value


Confirm = Annotated[Literal[True], BeforeValidator(_exactly_true), Field(description=messages.CONFIRM_DESCRIPTION)]


def takes_snapshot_first(policy: SnapshotPolicy, asked: bool) -> bool:
    """Whether an extension snapshots first: the policy's `required` wins over the caller's `snapshot_first`."""
    return policy == "required" or (policy == "optional" and asked)


async def extension_check(volume_id: str, new_size_gb: int, ctx: Ctx) -> LiveCheck:
    """The live check, refusing (and auditing) anything that must not be sent, before a human is asked."""
    return await _extension_check(volume_id, new_size_gb, ctx, app_state(ctx), snapshot_first=False)


async def extension_check_with_snapshot(volume_id: str, new_size_gb: int, ctx: Ctx, snapshot_first: bool) -> LiveCheck:
    """`extension_check` for the tool that offers `snapshot_first`: when a snapshot will come first, the
    snapshot quota is read with the volume (the quota set, side by side) instead of after the lock."""
    state = app_state(ctx)
    first = takes_snapshot_first(state.settings.snapshot_policy, snapshot_first)
    return await _extension_check(volume_id, new_size_gb, ctx, state, snapshot_first=first)


async def _extension_check(
    volume_id: str, new_size_gb: int, ctx: Ctx, state: AppState, *, snapshot_first: bool
) -> LiveCheck:
    if missing_extend_scope():  # before anything is read: this caller may look, not extend
        raise Refused(messages.MISSING_EXTEND_SCOPE, ["scope"], volume_id=volume_id, current_size_gb=None,
                      requested_size_gb=new_size_gb)  # fmt: skip
    with scp_errors(volume_id):
        check = await check_volume(state.scp, state.ledger, volume_id, new_size_gb, quota_set=snapshot_first,
                                   policy=state.settings.policy)  # fmt: skip
    if check.assessment.verdict == "refused":
        message = messages.refusal(check.label, check.assessment.reasons)
        await refuse(ctx, check, new_size_gb, message, check.assessment.codes)
    return check


async def refuse(ctx: Ctx, check: LiveCheck, target: int, message: str, codes: list[str]) -> NoReturn:
    """Audit an attempt refused before anything was sent, and raise the refusal (a typed tool error)."""
    await write_outcome(app_state(ctx).audit, start_attempt(ctx, check, target).record("outcome", "refused", message))
    raise Refused(message, codes, volume_id=check.volume_id, current_size_gb=check.volume.size,
                  requested_size_gb=target, per_volume_quota_gb=check.per_volume_quota_gb)  # fmt: skip


async def confirmation(
    check: Annotated[LiveCheck, Resolve(extension_check_with_snapshot)],
    new_size_gb: int,
    ctx: Ctx,
    snapshot_first: bool,
) -> Approval | CardConsent | Elicit[ExtensionConfirmation]:
    """Ask the human when the policy wants it and the client can; otherwise the confirm flag stands."""
    return await _confirmation(check, new_size_gb, ctx, snapshot_first)


async def confirmation_without_snapshot(
    check: Annotated[LiveCheck, Resolve(extension_check)], new_size_gb: int, ctx: Ctx
) -> Approval | CardConsent | Elicit[ExtensionConfirmation]:
    """`confirmation` for the tool without `snapshot_first` (SCP_SNAPSHOT_POLICY=off)."""
    return await _confirmation(check, new_size_gb, ctx, False)


async def _confirmation(
    check: LiveCheck, new_size_gb: int, ctx: Ctx, snapshot_first: bool
) -> Approval | CardConsent | Elicit[ExtensionConfirmation]:
    policy = app_state(ctx).settings.confirmation
    with tracing.span("scp_volume_mcp.confirmation", **{"scp.policy": policy}) as span:
        decision = await _decide(check, new_size_gb, ctx, snapshot_first, policy)
        span.set_attribute("scp.asked_human", isinstance(decision, Elicit))
        return decision


async def _decide(
    check: LiveCheck, new_size_gb: int, ctx: Ctx, snapshot_first: bool, policy: str
) -> Approval | CardConsent | Elicit[ExtensionConfirmation]:
    if check.assessment.verdict == "unchanged" or policy == "flag":
        return Approval()
    if check.approval_rule is not None:  # this call sends nothing: it asks a second person (approval_tools)
        return Approval()
    if client_supports_apps(ctx):  # the card, not a form: the person sees the plan and presses a button
        return CardConsent()
    if (version := _unknowable(ctx)) is not None:  # `auto` behaves as `human`: the flag alone never decides
        await refuse(ctx, check, new_size_gb, messages.consent_unknowable(version), ["consent_unknowable"])
    if _can_elicit(ctx):
        question, offer_snapshot = await _question(check, new_size_gb, ctx, snapshot_first)
        return Elicit(question, ExtensionConfirmationWithSnapshot if offer_snapshot else ExtensionConfirmation)
    if policy == "human":
        await refuse(ctx, check, new_size_gb, messages.HUMAN_REQUIRED, ["human_required"])
    return Approval()


def _unknowable(ctx: Ctx) -> str | None:
    """The protocol version, when this request cannot tell whether the client can ask a human, or cannot carry
    the question: a 2025-era client of a stateless HTTP server, whose capabilities were declared in an
    `initialize` on another connection and to which a mid-call `elicitation/create` has no way back. From
    2026-07-28 every request declares its capabilities and the question rides in the tool result."""
    version = ctx.protocol_version
    if version is None or is_version_at_least(version, QUESTION_IN_RESULT_VERSION):
        return None
    session = ctx.request_context.session
    return version if session.client_capabilities is None or not session.can_send_request else None


def _can_elicit(ctx: Ctx) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def _question(check: LiveCheck, new_size_gb: int, ctx: Ctx, snapshot_first: bool) -> tuple[str, bool]:
    """The facts first (id, sizes, irreversibility, the way back), the platform's words after them; and whether
    the form offers to take a snapshot first (none exists, and the snapshot policy lets the caller choose)."""
    state = app_state(ctx)
    summary = VolumeSummary.of(check.volume)
    policy = state.settings.snapshot_policy
    first = takes_snapshot_first(policy, snapshot_first)
    way_back = None if first else await look_back(scp_client(state), check.volume_id)
    offer = policy == "optional" and way_back is not None and way_back.latest is None and way_back.problem is None
    return messages.confirmation_question(
        check.volume_id,
        current=check.volume.size,
        target=new_size_gb,
        name=summary.name,
        state=summary.state,
        where=messages.summary_where(summary),
        way_back=messages.question_way_back(way_back, offered=offer),
    ), offer


async def approval_consent(request_id: str, approve: bool, ctx: Ctx) -> Approval | Elicit[ExtensionConfirmation]:
    """The approver's own consent before an approval runs an extension: asked as `extend_volume` asks (the
    same policy: `human` refuses a client that cannot ask, `auto` lets the `approve` argument stand there, `flag`
    never asks). Declining sends nothing, so it needs no question."""
    from .oauth import has_approve_scope

    policy = app_state(ctx).settings.confirmation
    if not approve or policy == "flag" or not has_approve_scope():  # the tool refuses a missing scope itself
        return Approval()
    if (version := _unknowable(ctx)) is not None:
        raise ToolError(messages.consent_unknowable(version))
    if _can_elicit(ctx):
        from .approval_tools import approval_question

        return Elicit(await approval_question(ctx, request_id), ExtensionConfirmation)
    if policy == "human":
        raise ToolError(messages.HUMAN_REQUIRED)
    return Approval()

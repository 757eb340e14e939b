"""Consent at the MCP edge: what kind of client this request comes from (for the table in
`extension.consent`), the resolvers that run before `extend_volume`'s body (the check, then the question), and
the forms a person answers. Only the JSON value `true` confirms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Elicit, Resolve
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from .. import messages, tracing
from ..coordination import CoordinationError, HeldLock
from ..extension import ClientKind, Consent, ExtensionRequest, LiveCheck, Locked, consent_for, preflight, refuse
from ..models import VolumeSummary
from ..side_by_side import side_by_side
from ..snapshots import WayBack, latest_snapshot, snapshot_quota_of
from .app_state import AppState
from .context import Ctx, app_state, current_call_scope, request_of, scp_client

QUESTION_IN_RESULT_VERSION = "2026-07-28"
"""From this protocol version on, the question travels inside the tool result (`InputRequiredResult`) and
every request declares the client's capabilities; before it, `elicitation/create` is sent mid-call."""


# The form shows a boolean; the answer is kept as given, so that only the JSON `true` approves (pydantic's
# lax bool would take "yes" or 1).
class ExtensionConfirmation(BaseModel):
    """What the person is asked (form elicitation)."""

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
    """The question when the volume has no snapshot and the policy lets the person ask for one: the way back is
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


class NoQuestion(BaseModel):
    """Nobody is asked: nothing would be sent, or the `confirm` flag stands (see `extension.consent`)."""


class CardConsent(BaseModel):
    """The person confirms in the confirmation card (a host that renders MCP Apps): this call sends nothing and
    shows the card (`card.show_card`)."""


def _exactly_true(value: object) -> object:
    """An explicit confirmation is the JSON value `true`, not 1, 1.0 or "true"."""
    if value is not True:
        raise ValueError(messages.CONFIRM_MUST_BE_TRUE)
    return value


Confirm = Annotated[Literal[True], BeforeValidator(_exactly_true), Field(description=messages.CONFIRM_DESCRIPTION)]
Question = NoQuestion | CardConsent | Elicit[ExtensionConfirmation]


def client_kind(ctx: Ctx, *, card: bool = True) -> ClientKind:
    """What this request's client can do to ask its person (`extension.consent`'s columns). `card`: whether the
    confirmation card counts (not for an approver)."""
    try:
        ctx.request_context  # noqa: B018  (outside any request: `MCPServer.call_tool` from Python)
    except ValueError:
        return "none"
    if card and client_supports_apps(ctx):
        return "card"
    if unknowable_version(ctx) is not None:
        return "unknowable"
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    can_ask = elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    return "form" if can_ask else "none"


def unknowable_version(ctx: Ctx) -> str | None:
    """The protocol version, when this request cannot tell whether the client can ask a person: a 2025-era client
    of a stateless HTTP server, whose capabilities were declared in an `initialize` on another connection and to
    which a mid-call `elicitation/create` has no way back."""
    version = ctx.protocol_version
    if version is None or is_version_at_least(version, QUESTION_IN_RESULT_VERSION):
        return None
    session = ctx.request_context.session
    return version if session.client_capabilities is None or not session.can_send_request else None


@dataclass(frozen=True)
class Checked:
    """What the check resolver hands on: the request, how consent is had, and, when a person may be asked, the
    volume as read for the question (with the way back). `check` None: nobody is asked, and the body reads once,
    under the lock. `locked`: the person's answer is in this very request (protocol 2026-07-28), so the read was
    made under the lock, after the answer: the safety read."""

    request: ExtensionRequest
    consent: Consent
    check: LiveCheck | None = None
    way_back: WayBack | None = None
    locked: Locked | None = None


async def extension_check(volume_id: str, new_size_gb: int, ctx: Ctx, snapshot_first: bool) -> Checked:
    """Before anyone is asked: decide how consent is had and, when a person may be asked, read and judge."""
    return await _check(ctx, request_of(ctx, volume_id, new_size_gb, snapshot_first=snapshot_first))


async def extension_check_without_snapshot(volume_id: str, new_size_gb: int, ctx: Ctx) -> Checked:
    """`extension_check` for the tool without `snapshot_first` (SCP_SNAPSHOT_POLICY=off)."""
    return await _check(ctx, request_of(ctx, volume_id, new_size_gb))


async def _check(ctx: Ctx, request: ExtensionRequest) -> Checked:
    state = app_state(ctx)
    decided = consent_for(state.settings.confirmation, "requester", client_kind(ctx))
    if decided == "flag" and request.may_extend:  # nobody is asked: the body reads once, under the lock
        return Checked(request, decided)
    locked = None
    if decided == "form" and ctx.input_responses:  # the answer is here: read under the lock, after it
        locked = await _lock(state, request)
    check, back = await _read(state, request, under_lock=locked is not None, way_back=decided == "form")
    if decided.startswith("refuse") and check.assessment.verdict == "extend":
        version = unknowable_version(ctx) or ""
        refusal = (
            messages.HUMAN_REQUIRED if decided == "refuse_human_required" else messages.consent_unknowable(version)
        )
        await refuse(state.services, request, check, refusal, [decided.removeprefix("refuse_")])
    return Checked(request, decided, check, back, Locked(locked, check) if locked is not None else None)


async def _lock(state: AppState, request: ExtensionRequest) -> HeldLock:
    scope = current_call_scope()
    assert scope is not None, "tools run inside server.VolumeMCPServer.call_tool's scope"
    try:
        return await scope.enter_async_context(state.ledger.volume_lock(request.volume_id))
    except CoordinationError as exc:
        await refuse(state.services, request, None, messages.coordination_unavailable(str(exc)), ["lock"])


async def _read(
    state: AppState, request: ExtensionRequest, *, under_lock: bool, way_back: bool
) -> tuple[LiveCheck, WayBack | None]:
    """The preflight, with the latest snapshot read beside it when the question will name the way back (the
    snapshot quota comes with the volume's quota set: one read of it per call)."""
    if not way_back or request.snapshot_first:  # a snapshot comes first: it will be the way back
        return await preflight(state.services, request, under_lock=under_lock), None
    checked = preflight(state.services, request, under_lock=under_lock, quota_set=True)
    check, (latest, problem) = await side_by_side(checked, latest_snapshot(scp_client(state), request.volume_id))
    quota = snapshot_quota_of(check.quota_set.quota if check.quota_set is not None else None)
    return check, WayBack(latest, quota, problem)


async def confirmation(checked: Annotated[Checked, Resolve(extension_check)], ctx: Ctx) -> Question:
    """Ask the person when the table says so; otherwise the confirm flag stands."""
    return await _question(checked, ctx)


async def confirmation_without_snapshot(
    checked: Annotated[Checked, Resolve(extension_check_without_snapshot)], ctx: Ctx
) -> Question:
    """`confirmation` for the tool without `snapshot_first` (SCP_SNAPSHOT_POLICY=off)."""
    return await _question(checked, ctx)


async def _question(checked: Checked, ctx: Ctx) -> Question:
    check = checked.check
    with tracing.span("scp_volume_mcp.confirmation", **{"scp.consent": checked.consent}) as span:
        span.set_attribute("scp.asked_human", checked.consent == "form")
        if check is None or check.assessment.verdict != "extend" or checked.consent == "flag":
            return NoQuestion()
        if checked.consent == "card":  # the card, not a form: the person sees the plan and presses a button
            return CardConsent()
        policy = app_state(ctx).settings.snapshot_policy
        back = checked.way_back
        offer = policy == "optional" and back is not None and back.latest is None and back.problem is None
        summary = VolumeSummary.of(check.volume)
        question = messages.confirmation_question(
            check.volume_id, current=check.volume.size, target=check.requested_gb, name=summary.name,
            state=summary.state, where=summary.where,
            way_back=messages.question_way_back(back, offered=offer),
        )  # fmt: skip
        return Elicit(question, ExtensionConfirmationWithSnapshot if offer else ExtensionConfirmation)

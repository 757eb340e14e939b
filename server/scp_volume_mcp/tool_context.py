"""What every tool and resolver shares: the context type, the volume id argument, the app state from a
context, the SCP client, SCP failures as tool errors, results as structured content plus text, and the start
of an attempt's record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import AcceptedElicitation, Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import AfterValidator, BaseModel, Field

from . import messages
from .app_state import AppState
from .attempt import Attempt
from .live_check import LiveCheck
from .models import Refusal, VolumeSummary
from .oauth import caller
from .scp import EXAMPLE_VOLUME_ID, VOLUME_ID_PATTERN, ScpError, Volume

if TYPE_CHECKING:
    from .scp import ScpClient

Ctx = Context[AppState, Any]
RESOLVED_VALUE = AcceptedElicitation[Any]
"""Held for the life of the process. The SDK wraps the value of every resolver (`Resolve`) as
`AcceptedElicitation[Any]`, parametrizing the generic on each call, and pydantic caches a parametrized class
only weakly: unheld, a garbage collection drops it and a later call builds it again (a few hundred microseconds,
on about one `extend_volume` in four)."""
VolumeId = Annotated[
    str,
    Field(
        pattern=VOLUME_ID_PATTERN,
        description=f"The volume's id, a UUID such as {EXAMPLE_VOLUME_ID} (see list_volumes)",
    ),
    # One volume, one key: its locks and its records in the trail are the same whatever case the id came in.
    AfterValidator(str.lower),
]


def app_state(ctx: Ctx) -> AppState:
    """The state the lifespan yields; outside any request (`MCPServer.call_tool` from Python, which gives the
    tool no request context) the state the server keeps (`server.VolumeMCPServer.app_state`).

    Each call reads the context's request context, a pydantic private attribute: about 20 µs, as two failed
    attribute lookups each raise and format an `AttributeError`. A function on the path of every extension
    reads it once and passes the state on."""
    try:
        return ctx.request_context.lifespan_context
    except ValueError:
        return _server_state(ctx)


def _server_state(ctx: Ctx) -> AppState:
    state = getattr(ctx.mcp_server, "app_state", None)
    assert isinstance(state, AppState)
    return state


def scp_client(state: AppState) -> ScpClient:
    with scp_errors():
        return state.scp.client()


@contextmanager
def scp_errors(volume_id: str | None = None) -> Iterator[None]:
    """Turn an SCP failure into a tool error the model can act on."""
    try:
        yield
    except ScpError as exc:
        raise ToolError(messages.explain(exc, volume_id)) from None


async def volume_for_summary(state: AppState, volume_id: str, *, size: int, name: str | None = None) -> Volume:
    """The volume as read now, for the summary of a result nothing else depends on (a decline): when it cannot
    be read, what was last known of it, in state "unknown"."""
    try:
        return await state.scp.client().show_volume(volume_id)
    except Exception:  # the decision stands without the read
        return Volume(id=volume_id, name=name, size=size, state="unknown")


def devices(summary: VolumeSummary) -> list[str | None]:
    return [a.device for a in summary.attachments]


def text_result(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def start_attempt(ctx: Ctx, check: LiveCheck, target_gb: int, *, snapshot_first: bool = False) -> Attempt:
    """The record of one extend_volume call, with who asked (the OAuth subject; the client's claimed name)."""
    try:
        request = ctx.request_context  # once: see `app_state`
    except ValueError:  # called outside an MCP request (MCPServer.call_tool from Python)
        state, params = _server_state(ctx), None
    else:
        state, params = request.lifespan_context, request.session.client_params
    return Attempt(
        check.volume_id,
        target_gb,
        check.volume.size,
        snapshot_first=snapshot_first,
        api_version=state.scp.api_version,
        caller=caller(),
        client_claimed=params.client_info.name if params is not None else None,
    )


# --- arguments as sent, refusals as typed objects ---------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property's schema allows (through `anyOf`/`oneOf` too); empty: not said."""
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type") or ())
    for option in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:
        found |= _json_types(option)
    return found


def _is_json_type(value: object, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(kind, (object,)))


def raw_argument_problems(arguments: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str, object, str]]:
    """What the published input schema refuses in the arguments as sent: names it does not offer, and values of
    another JSON type (`"yes"` or `"true"` for a boolean, `"5"` for a number), in `messages.invalid_arguments`'s
    form. The SDK parses leniently before its own validation and drops unknown names, so this runs first."""
    properties: dict[str, Any] = schema.get("properties", {})
    problems: list[tuple[str, str, object, str]] = []
    for name, value in arguments.items():
        if name not in properties:
            problems.append((name, "extra_forbidden", None, "not an argument of this tool"))
            continue
        kinds = _json_types(properties[name])
        if kinds and not any(_is_json_type(value, kind) for kind in kinds):
            expected = " or ".join(sorted(kinds - {"null"})) or "null"
            problems.append((name, f"{expected}_type", value, f"must be a JSON {expected}, not {type(value).__name__}"))
    return problems


def is_empty_answer_error(exc: Exception) -> bool:
    """The SDK's error for a confirmation form accepted with no content, which names its internal resolver."""
    text = str(exc)
    return text.startswith("Resolver ") and "scp_volume_mcp.confirmation:" in text and "no content" in text


class Refused(ToolError):
    """Nothing was sent, and why, as a typed object: the tool result is an error with structured content
    (outcome `refused`, the reasons as codes, the sizes), see `server.VolumeMCPServer.call_tool`."""

    def __init__(self, message: str, reasons: list[str], *, volume_id: str, current_size_gb: int | None,
                 requested_size_gb: int, per_volume_quota_gb: int | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        self.refusal = Refusal(
            reasons=reasons or ["other"],
            volume_id=volume_id,
            current_size_gb=current_size_gb,
            requested_size_gb=requested_size_gb,
            per_volume_quota_gb=per_volume_quota_gb,
            message=message,
        )

    def structured(self) -> dict[str, Any]:
        return self.refusal.model_dump(mode="json")

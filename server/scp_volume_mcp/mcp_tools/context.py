"""What every MCP adapter shares: the context type, the volume id argument, the app state from a context, the SCP
client, SCP failures as tool errors, results as structured content plus text, the extension request a call
makes, and the call's scope (what a resolver holds until the call ends)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import AfterValidator, BaseModel, Field

from .. import messages
from ..extension import ExtensionRequest
from ..oauth import caller, missing_extend_scope, person
from ..scp import EXAMPLE_VOLUME_ID, VOLUME_ID_PATTERN, ScpClient, ScpError, Volume
from .app_state import AppState

Ctx = Context[AppState, Any]
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

    """
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


def text_result(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def request_of(ctx: Ctx, volume_id: str, target_gb: int, *, snapshot_first: bool = False) -> ExtensionRequest:
    """The extension this call asks for, with who asks (the OAuth subject; the client's claimed name)."""
    try:
        params = ctx.request_context.session.client_params
    except ValueError:  # called outside an MCP request (MCPServer.call_tool from Python)
        params = None
    state = app_state(ctx)
    return ExtensionRequest(
        volume_id,
        target_gb,
        snapshot_first=state.services.takes_snapshot_first(snapshot_first),
        caller=caller(),
        person=person(),
        client_claimed=params.client_info.name if params is not None else None,
        may_extend=not missing_extend_scope(),
    )


_CALL_SCOPE: ContextVar[AsyncExitStack | None] = ContextVar("call_scope", default=None)


@asynccontextmanager
async def call_scope() -> AsyncIterator[None]:
    """The scope of one tool call (`server.VolumeMCPServer.call_tool`): what a resolver enters into it (a
    volume's lock) is released when the call ends, however it ends."""
    async with AsyncExitStack() as stack:
        token = _CALL_SCOPE.set(stack)
        try:
            yield
        finally:
            _CALL_SCOPE.reset(token)


def current_call_scope() -> AsyncExitStack | None:
    """The running call's scope; None outside `call_scope` (a tool called from Python)."""
    return _CALL_SCOPE.get()


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
    return text.startswith("Resolver ") and "scp_volume_mcp.mcp_tools.consent:" in text and "no content" in text

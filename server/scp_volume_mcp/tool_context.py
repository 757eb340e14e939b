"""What every tool and resolver shares: the context type, the volume id argument, the app state from a
context, the SCP client, SCP failures as tool errors, results as structured content plus text, and the start
of an attempt's record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import AfterValidator, BaseModel, Field

from . import messages
from .app_state import AppState
from .attempt import Attempt
from .live_check import LiveCheck
from .models import VolumeSummary
from .oauth import caller
from .scp import EXAMPLE_VOLUME_ID, VOLUME_ID_PATTERN, ScpError

if TYPE_CHECKING:
    from .scp import ScpClient

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
    tool no request context) the state the server keeps (`server.VolumeMCPServer.app_state`)."""
    try:
        return ctx.request_context.lifespan_context
    except ValueError:
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


def devices(summary: VolumeSummary) -> list[str | None]:
    return [a.device for a in summary.attachments]


def text_result(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def start_attempt(ctx: Ctx, check: LiveCheck, target_gb: int, *, snapshot_first: bool = False) -> Attempt:
    """The record of one extend_volume call, with who asked (the OAuth subject; the client's claimed name)."""
    try:
        params = ctx.session.client_params
    except ValueError:  # called outside an MCP request (MCPServer.call_tool from Python)
        params = None
    return Attempt(
        check.volume_id,
        target_gb,
        check.volume.size,
        snapshot_first=snapshot_first,
        api_version=app_state(ctx).scp.api_version,
        caller=caller(),
        client_claimed=params.client_info.name if params is not None else None,
    )

"""What every tool and resolver shares: the server that keeps the app state, the state from a context,
the SCP client, SCP failures as tool errors, results as structured content plus text, and the live check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.request_state import RequestStateSecurity
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, Field, ValidationError

from . import __version__, messages, tracing
from .extension import LiveCheck, check_live
from .models import VolumeSummary
from .oauth import JwtTokenVerifier, OAuthSettings
from .runtime import AppState
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
]


class VolumeServer(MCPServer[AppState]):
    """An `MCPServer` that keeps its `AppState`: the lifespan yields it, and a tool called from Python
    outside any request (`MCPServer.call_tool`, which gives the tool no request context) still finds it."""

    def __init__(
        self, state: AppState, oauth: OAuthSettings | None = None, state_keys: Sequence[str] | None = None
    ) -> None:
        self.state = state
        super().__init__(
            "scp-volume-mcp",
            title="SCP volume extension",
            instructions=messages.INSTRUCTIONS,
            version=__version__,
            lifespan=_lifespan,
            auth=oauth.auth_settings() if oauth is not None else None,
            token_verifier=JwtTokenVerifier(oauth) if oauth is not None else None,
            # Shared keys (SCP_MCP_STATE_KEYS) let a confirmation started on one replica finish on another.
            request_state_security=RequestStateSecurity(keys=list(state_keys)) if state_keys else None,
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """The SDK's `call_tool`, with arguments its schema refused explained as the plan would, instead of
        pydantic's dump (the schema itself, published to clients, is unchanged)."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if type(exc) is not ToolError or not isinstance(cause, ValidationError):
                raise
            errors = [(".".join(map(str, e["loc"])), e["type"], e.get("input"), e["msg"]) for e in cause.errors()]
            raise ToolError(messages.invalid_arguments(name, errors)) from cause


@asynccontextmanager
async def _lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
    assert isinstance(server, VolumeServer)
    await server.state.runtime.start()
    try:
        yield server.state
    finally:
        await server.state.runtime.aclose()


def app_state(ctx: Ctx) -> AppState:
    try:
        return ctx.request_context.lifespan_context
    except ValueError:  # no request: MCPServer.call_tool from Python
        server = ctx.mcp_server
        assert isinstance(server, VolumeServer)
        return server.state


def scp_client(state: AppState) -> ScpClient:
    with scp_errors():
        return state.runtime.client()


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


async def live_check(volume_id: str, new_size_gb: int, ctx: Ctx) -> LiveCheck:
    """The live volume and quota judged against the size: shared by plan and extend."""
    runtime = app_state(ctx).runtime
    with tracing.span("scp_volume_mcp.check", **{"scp.volume_id": volume_id, "scp.target_gb": new_size_gb}) as span:
        with scp_errors(volume_id):
            check = await check_live(runtime, volume_id, new_size_gb)
        span.set_attribute("scp.verdict", check.assessment.verdict)
        return check

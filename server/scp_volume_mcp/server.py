"""The MCP server: `VolumeMCPServer` (an `MCPServer` that keeps its state), its lifespan, and `build_server`,
which builds the state and registers the tools.

The tools are thin adapters (`mcp_tools/`) on the extension service (`extension/`), which reaches SCP through
the client (`scp/`). No URL or header is built here (see ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.extension import Extension
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from . import __version__, messages
from .audit import AuditTrail, FileAuditTrail
from .audit.table_trail import TableAuditTrail
from .coordination import VolumeCoordinator
from .extension import Failed, Refused
from .extension.ledger import ResizeLedger
from .file_locks import FileVolumeLocks
from .mcp_tools.app_state import AppState
from .mcp_tools.approval_tools import approve_extension, list_extension_requests
from .mcp_tools.card import (
    CARD_TOOL,
    CARD_TOOL_ANNOTATIONS,
    CARD_TOOL_META,
    UI_META,
    card_extension,
    decide_extension_card,
    hide_from_other_hosts,
)
from .mcp_tools.context import call_scope, is_empty_answer_error, raw_argument_problems
from .mcp_tools.extend_tool import extend_volume, extend_volume_without_snapshot
from .mcp_tools.lookup_tools import get_volume, list_volumes, plan_volume_extension
from .oauth import JwtTokenVerifier, OAuthSettings
from .policy import APPROVAL_FIX, approval_unenforceable
from .scp import ScpClient
from .scp_connection import ScpConnection, default_client_factory
from .settings import ServerSettings, SettingsError
from .stdio_transport import serve_stdio
from .team.approvals import ApprovalStore
from .team.coordinator import TeamCoordinator
from .team.database import Database

logger = logging.getLogger("scp_volume_mcp")

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
EXTEND = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)
DECIDE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True)

__all__ = ["VolumeMCPServer", "build_server"]


class VolumeMCPServer(MCPServer[AppState]):
    """An `MCPServer` that keeps its `AppState`: the lifespan yields it, and a tool called from Python
    outside any request (`MCPServer.call_tool`, which gives the tool no request context) still finds it."""

    def __init__(
        self,
        state: AppState,
        oauth: OAuthSettings | None = None,
        state_keys: Sequence[str] | None = None,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.app_state = state
        super().__init__(
            "scp-volume-mcp",
            title="SCP volume extension",
            instructions=messages.READ_ONLY_INSTRUCTIONS if state.settings.read_only else messages.INSTRUCTIONS,
            version=__version__,
            lifespan=_lifespan,
            auth=oauth.auth_settings() if oauth is not None else None,
            token_verifier=JwtTokenVerifier(oauth) if oauth is not None else None,
            # Shared keys (SCP_MCP_STATE_KEYS) let a confirmation started on one replica finish on another.
            request_state_security=RequestStateSecurity(keys=list(state_keys)) if state_keys else None,
            extensions=extensions,
        )
        # This server has no prompts: without their handlers the SDK does not declare the capability, and
        # `prompts/get` is "method not found" (not error code 0 with a logged traceback). MCPServer registers them
        # unconditionally and offers no switch: drop this once it derives capabilities from what is registered.
        # Its only resource is the confirmation card (`mcp_tools.card`).
        for method in ("prompts/list", "prompts/get"):
            self._lowlevel_server._request_handlers.pop(method, None)

    async def run_stdio_async(self) -> None:
        """The SDK's stdio serving, with a reply to a line that is not JSON-RPC (see `stdio_transport`)."""
        await serve_stdio(self, self.app_state.settings.shutdown_grace_s)

    def close_input_schemas(self) -> None:
        """Every tool's published input schema refuses arguments it does not name (`additionalProperties:
        false`), as `call_tool` does. The SDK publishes its argument model's schema, which allows them."""
        for tool in self._tool_manager.list_tools():
            tool.parameters["additionalProperties"] = False

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """The SDK's `call_tool`, at our edge:

        - an unknown tool is the JSON-RPC error -32602 (the tools page of 2025-11-25), not an `isError` result;
        - arguments are judged as sent, before the SDK's lenient parsing (it turns `"true"` into `true` and
          `"5"` into `5`, and drops arguments its model does not name): an unknown argument, or a value of the
          wrong JSON type, is refused and nothing is read or sent;
        - arguments its schema refused are explained as the plan would, instead of pydantic's dump;
        - a refusal (`extension.Refused`) comes back as an error result with its structured content, which
          satisfies the tool's output schema (`models.every_outcome`): some hosts check an error's too.

        Drop the first two once the SDK answers unknown tools with -32602 and validates arguments against the
        published schema."""
        tool = self._tool_manager.get_tool(name)
        if tool is None or (name == CARD_TOOL and context is not None and not client_supports_apps(context)):
            raise MCPError(code=INVALID_PARAMS, message=messages.unknown_tool(name, self._offered(context)))
        problems = raw_argument_problems(arguments, tool.parameters)
        if problems:
            raise ToolError(messages.invalid_arguments(name, problems))
        try:
            async with call_scope():  # what a resolver holds (a volume's lock) ends with the call
                return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__  # the SDK wraps what a tool or resolver raised: "Error executing tool ..."
            if isinstance(cause, Refused):
                return CallToolResult(
                    content=[TextContent(type="text", text=cause.message)],
                    structured_content=cause.refusal.model_dump(mode="json"),
                    is_error=True,
                )
            if isinstance(cause, Failed):
                raise ToolError(cause.explained) from None
            if isinstance(cause, ToolError) and is_empty_answer_error(cause):
                raise ToolError(messages.EMPTY_ANSWER) from None
            if type(exc) is not ToolError or not isinstance(cause, ValidationError):
                raise
            errors = [(".".join(map(str, e["loc"])), e["type"], e.get("input"), e["msg"]) for e in cause.errors()]
            raise ToolError(messages.invalid_arguments(name, errors)) from cause

    def _offered(self, context: Context[AppState, Any] | None) -> list[str]:
        """The tools this client can see: the card's own tool only for a client that renders apps."""
        apps = context is not None and client_supports_apps(context)
        return [t.name for t in self._tool_manager.list_tools() if apps or t.name != CARD_TOOL]


@asynccontextmanager
async def _lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
    assert isinstance(server, VolumeMCPServer)
    await server.app_state.start()
    try:
        yield server.app_state
    finally:
        await server.app_state.aclose()


def build_state(settings: ServerSettings, client_factory: Callable[[], ScpClient] = default_client_factory) -> AppState:
    """Settings, SCP access, the audit trail (the team database's table when SCP_DATABASE_URL is set, else the
    file) and the resize ledger over it, with the volume locks shared by every process using that trail."""
    url = settings.database_url
    audit: AuditTrail
    coordinator: VolumeCoordinator | None
    approvals = None
    if url:
        database = Database(url, lock_timeout_s=settings.lock_timeout_s)
        audit, coordinator = TableAuditTrail(database), TeamCoordinator(database)
        if settings.policy is not None and settings.policy.approval.enabled:
            approvals = ApprovalStore(database)
    else:
        if settings.audit_log is not None and settings.audit_log_default:
            _make_folder(settings.audit_log.parent)
        trail = FileAuditTrail(settings.audit_log)
        audit = trail
        coordinator = FileVolumeLocks(trail, lock_timeout_s=settings.lock_timeout_s) if trail.enabled else None
    return AppState(settings, ScpConnection(client_factory), ResizeLedger(audit, coordinator), audit, approvals)


def _make_folder(folder: Path) -> None:
    """The default trail's folder, private to the user; when it cannot be made, every extension is refused
    (its intent cannot be written) and lookups still work."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        logger.error("Cannot make the audit trail's folder %s: %s; extensions are refused", folder, exc.strerror)


def build_server(
    settings: ServerSettings | None = None,
    client_factory: Callable[[], ScpClient] = default_client_factory,
    *,
    oauth: OAuthSettings | None = None,
    state_keys: Sequence[str] | None = None,
) -> VolumeMCPServer:
    """The MCP server with its tools; `extend_volume` is left out entirely in read-only mode, and the approval
    tools are offered only with [approval] policy rules (which need OAuth and the team database: without them
    this raises `SettingsError`, and the server does not start)."""
    settings = settings or ServerSettings()
    policy = settings.policy
    if policy is not None and policy.approval.enabled and (oauth is None or settings.database_url is None):
        raise SettingsError(approval_unenforceable(policy), fix=APPROVAL_FIX)
    server = VolumeMCPServer(build_state(settings, client_factory), oauth, state_keys, [card_extension()])
    descriptions = messages.READ_ONLY_DESCRIPTIONS if settings.read_only else messages.DESCRIPTIONS
    server.add_tool(list_volumes, title="List volumes", description=descriptions["list_volumes"],
                    annotations=READ_ONLY)  # fmt: skip
    server.add_tool(get_volume, title="Get volume", description=descriptions["get_volume"], annotations=READ_ONLY)
    server.add_tool(plan_volume_extension, title="Plan a volume extension",
                    description=descriptions["plan_volume_extension"], annotations=READ_ONLY, meta=UI_META)  # fmt: skip
    if not settings.read_only:
        extend = extend_volume if settings.snapshot_policy != "off" else extend_volume_without_snapshot
        server.add_tool(extend, name="extend_volume", title="Extend a volume",
                        description=descriptions["extend_volume"], annotations=EXTEND, meta=UI_META)  # fmt: skip
        server.add_tool(decide_extension_card, name=CARD_TOOL, title="Decide from the card", meta=CARD_TOOL_META,
                        description=messages.CARD_TOOL_DESCRIPTION, annotations=CARD_TOOL_ANNOTATIONS)  # fmt: skip
        server.middleware.append(hide_from_other_hosts)
        if server.app_state.approvals is not None:
            approval = messages.APPROVAL_DESCRIPTIONS
            server.add_tool(list_extension_requests, title="List extension requests",
                            description=approval["list_extension_requests"], annotations=READ_ONLY)  # fmt: skip
            server.add_tool(approve_extension, title="Approve or decline an extension",
                            description=approval["approve_extension"], annotations=DECIDE)  # fmt: skip
    server.close_input_schemas()
    return server

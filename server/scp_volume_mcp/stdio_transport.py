"""MCP over stdio, as the SDK serves it, with what its stdio transport leaves out: a line that is not a JSON-RPC
message gets the JSON-RPC error it is owed (-32700 for text that is not JSON, -32600 for JSON that is not a
JSON-RPC message), with `id: null`, instead of no reply at all; and a person who starts `serve` in a terminal is
told that it waits for an MCP client on stdin.

The SDK's `stdio_server` hands such a line to the session as an exception, which logs it at debug level and
answers nothing. `server.VolumeMCPServer.run_stdio_async` serves through `serve_stdio`; drop both (and
`_answer_unparsable`) once the SDK replies itself."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

if TYPE_CHECKING:
    from .server import VolumeMCPServer

logger = logging.getLogger("scp_volume_mcp")

TERMINAL_NOTICE = (
    "scp-volume-mcp: serving MCP over stdio: waiting for an MCP client to write JSON-RPC on stdin. This command "
    "is for an MCP client to start (see the README's client snippets); `scp-volume-mcp demo` shows it working. "
    "Ctrl+C stops it."
)


def say_if_terminal() -> None:
    """When stdin is a terminal, a person started `serve`: say that it waits for an MCP client."""
    if os.isatty(0):
        print(TERMINAL_NOTICE, file=sys.stderr, flush=True)


def error_for(exc: Exception) -> JSONRPCError:
    """The JSON-RPC error for a line the transport could not read as a message."""
    not_json = isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors())
    if not_json or not isinstance(exc, ValidationError):
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=PARSE_ERROR, message="Parse error"))
    return JSONRPCError(
        jsonrpc="2.0",
        id=None,
        error=ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC 2.0 message"),
    )


async def serve_stdio(server: VolumeMCPServer) -> None:
    """What `MCPServer.run_stdio_async` does, with `_answer_unparsable` between the transport and the session."""
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        forward, filtered = create_context_streams[SessionMessage | Exception](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_answer_unparsable, read_stream, forward, write_stream)
            await lowlevel.run(filtered, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


async def _answer_unparsable(source: Any, forward: Any, write_stream: Any) -> None:
    """Pass every message on; answer a line that is not one, instead of passing its exception on."""
    async with forward:
        async for item in source:
            if isinstance(item, Exception):
                logger.info("A line on stdin is not a JSON-RPC message; answered with a JSON-RPC error")
                await write_stream.send(SessionMessage(error_for(item)))
                continue
            await forward.send(item)

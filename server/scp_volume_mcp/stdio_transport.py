"""MCP over stdio, as the SDK serves it, with what its stdio transport leaves out: a line that is not a JSON-RPC
message gets the JSON-RPC error it is owed (-32700 for text that is not JSON, -32600 for JSON that is not a
JSON-RPC message), with `id: null`, instead of no reply at all; requests in flight when the client closes stdin
are answered before the session ends (the SDK would cancel them: an extension under way would be interrupted);
and a person who starts `serve` in a terminal is told that it waits for an MCP client on stdin.

The SDK's `stdio_server` hands such a line to the session as an exception, which logs it at debug level and
answers nothing. `server.VolumeMCPServer.run_stdio_async` serves through `serve_stdio`; drop both (and
`_answer_unparsable`) once the SDK replies itself."""

from __future__ import annotations

import logging
import os
import sys
from types import TracebackType
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest
from pydantic import ValidationError

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


class OwedAnswers:
    """The client's requests this server has not answered yet, by id: a request read from stdin is owed an
    answer until a response or an error with its id is written, or the client cancels it (no answer is owed
    then)."""

    def __init__(self) -> None:
        self._ids: set[str | int] = set()
        self._none_owed = anyio.Event()
        self._none_owed.set()

    def __len__(self) -> int:
        return len(self._ids)

    def read(self, message: object) -> None:
        if isinstance(message, JSONRPCRequest):
            self._ids.add(message.id)
            self._none_owed = anyio.Event() if self._none_owed.is_set() else self._none_owed
        elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            self._settle((message.params or {}).get("requestId"))

    def written(self, message: object) -> None:
        if not isinstance(message, JSONRPCRequest | JSONRPCNotification):  # a response or an error
            self._settle(getattr(message, "id", None))

    def _settle(self, request_id: object) -> None:
        if isinstance(request_id, str | int):
            self._ids.discard(request_id)
        if not self._ids:
            self._none_owed.set()

    async def all_answered(self, within_s: float) -> bool:
        """Wait until every request read so far is answered, at most `within_s`; whether they all were."""
        with anyio.move_on_after(within_s):
            await self._none_owed.wait()
        return not self._ids


class _AnswerWatch:
    """The session's write stream, telling `OwedAnswers` what was answered."""

    def __init__(self, inner: Any, owed: OwedAnswers) -> None:
        self._inner, self._owed = inner, owed

    async def send(self, item: SessionMessage, /) -> None:
        await self._inner.send(item)
        self._owed.written(item.message)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AnswerWatch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def serve_stdio(server: MCPServer[Any], grace_s: float) -> None:
    """What `MCPServer.run_stdio_async` does, with `_forward` between the transport and the session. `grace_s`:
    how long requests read before the end of stdin may take to be answered."""
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        forward, filtered = create_context_streams[SessionMessage | Exception](0)
        owed = OwedAnswers()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_forward, read_stream, forward, write_stream, owed, grace_s)
            await lowlevel.run(filtered, _AnswerWatch(write_stream, owed), lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


async def _forward(source: Any, forward: Any, write_stream: Any, owed: OwedAnswers, grace_s: float) -> None:
    """Pass every message on, and answer a line that is not one instead of passing its exception on. At the end
    of stdin, the session ends once the requests read are answered (at most `grace_s`, SCP_SHUTDOWN_GRACE; a
    SIGTERM meanwhile stops them as `graceful_stop` says)."""
    async with forward:
        async for item in source:
            if isinstance(item, Exception):
                logger.info("A line on stdin is not a JSON-RPC message; answered with a JSON-RPC error")
                await write_stream.send(SessionMessage(error_for(item)))
                continue
            owed.read(item.message)
            await forward.send(item)
        if len(owed):
            logger.info("stdin closed: answering %d request(s) in flight first (up to %g s)", len(owed), grace_s)
            if not await owed.all_answered(grace_s):
                logger.warning("stdin closed: %d request(s) still unanswered after %g s; ending", len(owed), grace_s)

"""Helpers to talk to the server through a real in-process MCP client session."""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import httpx
import jsonschema
from mcp import Client as Client  # re-exported: tests import it from here
from mcp import StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.client.session import ElicitationFnT
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, Tool
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import ScpClient, load_config
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

Elicitor = ElicitationFnT


def answer(action: str, confirm: object = True, asked: list[str] | None = None) -> Elicitor:
    """An elicitation callback standing in for the human; records the questions it was asked."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        if asked is not None:
            asked.append(params.message)
        content = {"confirm": confirm} if action == "accept" else None
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


@dataclass
class Session:
    client: Client
    tools: dict[str, Tool]
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def call(self, name: str, arguments: dict[str, Any], **kwargs: Any) -> CallToolResult:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            self.progress.append((progress, total, message))

        result = await self.client.call_tool(name, arguments, progress_callback=on_progress, **kwargs)
        tool = self.tools.get(name)
        # An error's structured content is checked too (a typed refusal), as the TypeScript SDK v1 client and
        # the Inspector check it: see test_ts_clients.
        if tool is not None and (not result.is_error or result.structured_content is not None):
            assert tool.output_schema is not None
            _validator(json.dumps(tool.output_schema, sort_keys=True)).validate(result.structured_content)
        if tool is not None and not result.is_error:
            assert 1 <= len(text(result).splitlines()) <= 3
        return result


@functools.cache
def _validator(schema: str) -> Any:
    """A validator of the JSON schema `schema`, checked against its metaschema once: `jsonschema.validate` checks
    it again on every call, which took about 0.1 s of CPU per call here."""
    parsed = json.loads(schema)
    validator = jsonschema.validators.validator_for(parsed)
    validator.check_schema(parsed)
    return validator(parsed)


def for_the_model(tools: list[Tool]) -> list[Tool]:
    """The tools a host lists for the model: all but app-only ones (`_meta.ui.visibility` without "model",
    the confirmation card's buttons)."""
    return [t for t in tools if "model" in (t.meta or {}).get("ui", {}).get("visibility", ["model"])]


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def client_factory(
    emulator: EmulatorServer, api_version: str = "1.3", timeout_s: float | None = None
) -> Callable[[], ScpClient]:
    def factory() -> ScpClient:
        config = load_config(
            access_key=EMULATOR_ACCESS_KEY,
            secret_key=EMULATOR_SECRET_KEY,
            endpoint=emulator.url,
            api_version=api_version,
            timeout_s=timeout_s,
            env={},
        )
        return ScpClient(config, backoff_s=0.001, transport=shared_tls_transport())

    return factory


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # what each httpx client makes for itself (the same roots and settings)


def shared_tls_transport() -> httpx.AsyncHTTPTransport:
    """httpx's default transport, with one TLS context for the whole test run: each new client otherwise loads
    the trusted roots again (about 50 ms of CPU, for an emulator on plain http, in every test)."""
    return httpx.AsyncHTTPTransport(verify=_tls_context())


@asynccontextmanager
async def client_speaking(
    target: str | StdioServerParameters, version: str, elicitation: Elicitor | None = None
) -> AsyncIterator[Client]:
    """An MCP client connected to `target` (a URL or a stdio command) that speaks exactly `version`. A 2026-era
    version is adopted directly; the SDK's client always offers its latest handshake-era version in
    `initialize`, so an older one is pinned for the handshake, which decides the connection's version."""
    async with AsyncExitStack() as stack:
        if version in MODERN_PROTOCOL_VERSIONS:
            client = await stack.enter_async_context(Client(target, mode=version, elicitation_callback=elicitation))
        else:
            with mock.patch("mcp.client.session.LATEST_HANDSHAKE_VERSION", version):
                client = await stack.enter_async_context(
                    Client(target, mode="legacy", elicitation_callback=elicitation)
                )
        assert client.protocol_version == version
        yield client


@asynccontextmanager
async def connect(
    emulator: EmulatorServer,
    *,
    mode: str = "auto",
    settings: ServerSettings | None = None,
    elicitation: Elicitor | None = None,
) -> AsyncIterator[Session]:
    server = build_server(settings or ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    async with Client(server, mode=mode, elicitation_callback=elicitation) as client:
        listed = await client.list_tools()
        yield Session(client, {t.name: t for t in listed.tools})

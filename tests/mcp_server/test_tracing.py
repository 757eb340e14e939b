"""OpenTelemetry: our spans nest under the SDK's span for the tool call, and OTEL_* variables alone export them."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from mcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import client_factory

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # set once per process; later tests reuse it
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    yield _EXPORTER
    _EXPORTER.shutdown()  # the provider stays for the process; later tests' spans are no longer kept


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        names.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    return names


@pytest.mark.anyio
async def test_scp_requests_and_stages_nest_under_the_tool_call(
    emulator: EmulatorServer, spans: InMemorySpanExporter
) -> None:
    emulator.state.settings.extend_seconds = 0.5
    spans.clear()
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05)
    arguments = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "wait": True,
                 "snapshot_first": True}  # fmt: skip
    async with Client(build_server(settings, client_factory(emulator))) as client:
        result = await client.call_tool("extend_volume", arguments)
    assert not result.is_error
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    [tool_call] = [s for s in finished if s.name == "tools/call extend_volume" and s.kind == trace.SpanKind.SERVER]
    ours = {s.name: s for s in finished if s.name.startswith(("scp_volume_mcp.", "SCP "))}
    for stage in ("check", "confirmation", "snapshot", "resize", "wait"):
        assert f"scp_volume_mcp.{stage}" in ours, sorted(ours)
    for name in ("SCP GET /v1/volumes/{volume_id}", "SCP PUT /v1/volumes/{volume_id}/size", "SCP POST /v1/snapshots"):
        assert name in ours, sorted(ours)
    for span in ours.values():
        assert tool_call.name in _ancestors(span, by_id), span.name
    put = ours["SCP PUT /v1/volumes/{volume_id}/size"]
    assert put.attributes is not None
    assert put.attributes["http.response.status_code"] == 202
    assert put.attributes["scp.volume_id"] == EXAMPLE_VOLUME_ID
    assert put.attributes["scp.attempt"] == 1
    assert "scp_volume_mcp.resize" in _ancestors(put, by_id)
    check = ours["scp_volume_mcp.check"]
    assert check.attributes is not None
    assert check.attributes["scp.verdict"] == "extend"
    wait = ours["scp_volume_mcp.wait"]
    assert wait.attributes is not None
    assert wait.attributes["scp.settled"] is True


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Collector.received.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_the_standard_otel_variables_alone_turn_export_on() -> None:
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    script = (
        "from opentelemetry import trace\n"
        "from scp_volume_mcp.tracing import configure_from_env, span\n"
        "assert configure_from_env()\n"
        "with span('scp_volume_mcp.check'): pass\n"
        "trace.get_tracer_provider().force_flush()\n"
    )
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "t"}
    try:
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert _Collector.received == ["/v1/traces"]
        off = {**env, "OTEL_TRACES_EXPORTER": "none"}
        done = subprocess.run([sys.executable, "-c", script], env=off, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0  # configure_from_env() declined
    finally:
        collector.shutdown()

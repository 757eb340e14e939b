"""OpenTelemetry spans for SCP requests and the extension's stages, under the SDK's span for each MCP request.

Only the OpenTelemetry API is needed (mcp depends on it): without an SDK every span is a no-op. With the
`[otel]` extra installed and an OTLP endpoint set in the standard `OTEL_*` variables, `configure_from_env`
installs a tracer provider that exports there; nothing else configures it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, StatusCode

from .scp._tracing import tracing_off

logger = logging.getLogger("scp_volume_mcp")
_tracer = trace.get_tracer("scp_volume_mcp")


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A child span of whatever is current; an exception marks it as an error (and is re-raised). Without a
    tracer provider, the non-recording span and nothing else."""
    if tracing_off():
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span(
        name,
        attributes={k: v for k, v in attributes.items() if v is not None},
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_attribute("error.type", type(exc).__qualname__)
            current.set_status(StatusCode.ERROR)
            raise


def configure_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Install an OTLP-exporting tracer provider when the `[otel]` extra is present and the standard variables
    ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and
    `OTEL_TRACES_EXPORTER` not `none`, `OTEL_SDK_DISABLED` not `true`). Returns whether it did."""
    env = os.environ if env is None else env
    wanted = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not wanted or env.get("OTEL_TRACES_EXPORTER", "otlp") == "none" or env.get("OTEL_SDK_DISABLED") == "true":
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning("OTEL_* variables are set, but the [otel] extra is not installed: no traces are exported")
        return False
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "scp-volume-mcp")})
    provider = TracerProvider(resource=resource)  # the exporter reads OTEL_EXPORTER_OTLP_* itself
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True

"""Whether spans are recorded at all: the SCP client's spans and the server's skip their work when not."""

from __future__ import annotations

from opentelemetry import trace


def tracing_off() -> bool:
    """No tracer provider is installed (the API's proxy, or the explicit no-op): a span would record nothing,
    yet entering one still costs a context switch and its attributes (issue #20 measured them per request)."""
    return isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

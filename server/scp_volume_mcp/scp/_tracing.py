"""Whether a tracer provider is installed at all: without one, the SCP client's spans and the server's skip
their work."""

from __future__ import annotations

from opentelemetry import trace


def tracing_off() -> bool:
    """No tracer provider is installed (the API's proxy, or the explicit no-op): a span would record nothing,
    yet entering one still costs a context switch and its attributes (issue #20 measured them per request).
    An installed SDK provider counts as on, whatever its sampler decides."""
    return isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

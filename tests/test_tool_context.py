"""What every tool and resolver shares (`tool_context`)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from mcp.server.mcpserver import AcceptedElicitation

from scp_volume_mcp import tool_context


def test_the_class_wrapping_resolved_values_is_built_once_and_kept() -> None:
    """The SDK parametrizes `AcceptedElicitation[Any]` for every resolver's value, on every call. Pydantic holds
    that class weakly: unless something else holds it, a collection drops it and the next call builds it again."""
    wrapper = weakref.ref(AcceptedElicitation[Any])
    gc.collect()
    assert wrapper() is tool_context.RESOLVED_VALUE
    assert AcceptedElicitation[Any] is tool_context.RESOLVED_VALUE

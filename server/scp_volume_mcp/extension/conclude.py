"""An attempt that sends nothing, concluded: a decline, a size already there or already under way, a question left
to the card or to a second person. No MCP here."""

from __future__ import annotations

from ..audit.open_attempts import OpenAttempt
from ..models import Outcome
from ..scp import Volume
from .attempt import Attempt, ExtensionReport
from .request import ExtensionRequest
from .services import Services


async def conclude(
    services: Services,
    request: ExtensionRequest,
    volume: Volume,
    outcome: Outcome,
    note: str | None = None,
    *,
    under_way: OpenAttempt | None = None,
) -> ExtensionReport:
    """Record an attempt that sends nothing (a decline, a size already there or under way, a question left to a
    card or a second person), and report it."""
    attempt = Attempt.of(request, volume.size, services.scp)
    await attempt.settle(services.trail, outcome, note)
    return ExtensionReport(outcome, volume, attempt, note=note, under_way=under_way)

"""The resize request itself: `PUT /v1/volumes/{id}/size`, sent once and never again. After an ambiguous failure
(a timeout, a dropped connection, an unreadable answer) the volume is read back to say what is known; a fate the
read cannot settle is reported as unknown and stays an open attempt. Every fact learnt goes into the `Attempt`.
No MCP here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages
from .attempt import Attempt, ExtendError
from .scp import (
    FAILED_STATES,
    SETTLED_STATES,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpTransportError,
    Volume,
)

if TYPE_CHECKING:
    from .scp import ScpClient

Sent = tuple[Volume, str | None]
"""The volume as the answer (or the read back) shows it, and a note when the answer itself was lost."""


async def send_resize(client: ScpClient, attempt: Attempt) -> Sent:
    """Send the resize once; raises `ExtendError` (`ExtendFailed` once a request has left)."""
    try:
        attempt.sent = True
        accepted = await client.extend_volume(attempt.volume_id, attempt.target_gb)
    except ScpHttpError as exc:  # the platform refused it: nothing was applied
        attempt.status, attempt.request_id = exc.status, exc.request_id
        raise ExtendError.of(messages.explain(exc, attempt.volume_id), attempt) from None
    except ScpResponseError as exc:  # accepted, in words we cannot read
        attempt.status, attempt.request_id = exc.status, exc.request_id
        volume = await _read_back(client, attempt, messages.unreadable_answer_context(exc.status))
        return volume, messages.unreadable_answer(exc.status)
    except ScpTransportError as exc:
        if not exc.sent:  # no connection was made: nothing reached the platform
            attempt.sent = False
            raise ExtendError.of(messages.not_reachable(exc), attempt) from None
        return await _after_lost_answer(client, attempt, exc)
    except ScpError as exc:  # refused before a request existed: bad input or configuration
        attempt.sent = False
        raise ExtendError.of(messages.explain(exc, attempt.volume_id), attempt) from None
    attempt.status, attempt.request_id = accepted.status, accepted.request_id
    return accepted.volume, None


async def _after_lost_answer(client: ScpClient, attempt: Attempt, exc: ScpTransportError) -> Sent:
    """The request left and its answer was lost (a timeout, a dropped connection): what a read shows. It never
    leads to sending again: no read proves a resize was not applied (an attached volume stays in-use at its old
    size while it grows, and the platform may not have processed the request yet), and the platform offers no
    record of the request to ask. An unsettled fate stays an open attempt that blocks the volume."""
    volume = await _read_back(client, attempt, str(exc))
    if volume.size >= attempt.target_gb:
        return volume, messages.dropped_then_applied(exc)
    if volume.state in FAILED_STATES:
        raise ExtendError.of(messages.dropped_then_failed(exc, volume.state, volume.size), attempt) from None
    if volume.state not in SETTLED_STATES:
        return volume, messages.dropped_in_progress(exc, volume.state)
    unknown = messages.fate_unknown(exc, volume.state, volume.size, attempt.target_gb, attempt.attempt_id)
    raise ExtendError.of(unknown, attempt) from None


async def _read_back(client: ScpClient, attempt: Attempt, what: str) -> Volume:
    try:
        return await client.show_volume(attempt.volume_id)
    except ScpError as exc:
        raise ExtendError.of(messages.read_back_failed(what, attempt.target_gb, exc), attempt) from None

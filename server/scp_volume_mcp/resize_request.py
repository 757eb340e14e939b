"""The resize request itself: `PUT /v1/volumes/{id}/size`, sent once. After an ambiguous failure (a dropped
connection, an unreadable answer) the volume is read back instead, and the request is sent a second time only
when that read proves the first was not applied. Every fact learnt goes into the `Attempt`. No MCP here."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import messages
from .attempt import Attempt, ExtendError
from .scp import (
    FAILED_STATES,
    SETTLED_STATES,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpTimeoutError,
    ScpTransportError,
    Volume,
)

if TYPE_CHECKING:
    from .scp import ScpClient

logger = logging.getLogger("scp_volume_mcp")

Sent = tuple[Volume, str | None]
"""The volume as the answer (or the read back) shows it, and a note when the answer itself was lost."""


async def send_resize(client: ScpClient, attempt: Attempt) -> Sent:
    """Send the resize; raises `ExtendError` (`ExtendFailed` once a request has left)."""
    for round_ in (1, 2):
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
            settled = await _after_lost_answer(client, attempt, exc, round_)
            if settled is not None:
                return settled
            logger.warning("%s; the volume shows it was not applied, sending once more", exc)
        except ScpError as exc:  # refused before a request existed: bad input or configuration
            attempt.sent = round_ > 1
            raise ExtendError.of(messages.explain(exc, attempt.volume_id), attempt) from None
        else:
            attempt.status, attempt.request_id = accepted.status, accepted.request_id
            return accepted.volume, None
    raise AssertionError("unreachable: the second round returns or raises")


async def _after_lost_answer(client: ScpClient, attempt: Attempt, exc: ScpTransportError, round_: int) -> Sent | None:
    """What a read says after a transport failure: the outcome, or None when it proves nothing was applied
    (send again, once)."""
    if not exc.sent:
        if round_ == 1:
            attempt.sent = False
            raise ExtendError.of(messages.not_reachable(exc), attempt) from None
        raise ExtendError.of(messages.resend_unreachable(exc), attempt) from None
    volume = await _read_back(client, attempt, str(exc))
    if volume.size >= attempt.target_gb:
        return volume, messages.dropped_then_applied(exc)
    if volume.state in FAILED_STATES:
        raise ExtendError.of(messages.dropped_then_failed(exc, volume.state, volume.size), attempt) from None
    if volume.state not in SETTLED_STATES:
        return volume, messages.dropped_in_progress(exc, volume.state)
    if isinstance(exc, ScpTimeoutError):
        # The platform may still be working on it: a read cannot prove it will not be applied.
        raise ExtendError.of(messages.timed_out_unknown(exc, volume.state, volume.size), attempt) from None
    if round_ == 2:
        raise ExtendError.of(messages.dropped_twice(attempt.volume_id, volume.size, volume.state), attempt) from None
    return None


async def _read_back(client: ScpClient, attempt: Attempt, what: str) -> Volume:
    try:
        return await client.show_volume(attempt.volume_id)
    except ScpError as exc:
        raise ExtendError.of(messages.read_back_failed(what, attempt.target_gb, exc), attempt) from None

"""The resize request itself: `PUT /v1/volumes/{id}/size`, sent once and never again.

The send decision, by the class of the answer:

| answer | applied? | what follows |
|---|---|---|
| 2xx, readable | yes | the volume as answered |
| 2xx, unreadable body | yes | the volume read back |
| 4xx | no: the platform refused it | `Failed` (the attempt is settled) |
| 5xx (500, 502, 503, 504) | unknown: a gateway may answer after the platform applied it | a lost answer |
| timeout or dropped after the request left | unknown | a lost answer |
| no connection made | no | `Refused` (nothing reached the platform) |

A lost answer is read back: the read says what is known, and a fate it cannot settle stays an open attempt that
blocks the volume (and counts toward the team's limits) until a read shows the size. Nothing is sent again.
No MCP here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import messages
from ..scp import (
    FAILED_STATES,
    SETTLED_STATES,
    ScpClient,
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpServerError,
    ScpTransportError,
    Volume,
)
from .attempt import Attempt, Failed


@dataclass(frozen=True)
class ResizeAnswer:
    """The volume as the answer (or the read back) shows it, and a note when the answer itself was lost."""

    volume: Volume
    note: str | None = None


async def send_resize(client: ScpClient, attempt: Attempt) -> ResizeAnswer:
    """Send the resize once; raises `Failed` once a request has left, `Refused` when none did."""
    try:
        attempt.sending()
        accepted = await client.resize_volume(attempt.volume_id, attempt.target_gb)
    except ScpServerError as exc:  # a 5xx: a gateway may have answered after the platform applied it
        attempt.answered(exc.status, exc.request_id)
        return await _after_lost_answer(client, attempt, exc)
    except ScpHttpError as exc:  # the platform refused it: nothing was applied
        attempt.answered(exc.status, exc.request_id)
        raise Failed(messages.explain(exc, attempt.volume_id), attempt) from None
    except ScpResponseError as exc:  # accepted, in words we cannot read
        attempt.answered(exc.status, exc.request_id)
        volume = await _read_back(client, attempt, messages.unreadable_answer_context(exc.status))
        return ResizeAnswer(volume, messages.unreadable_answer(exc.status))
    except ScpTransportError as exc:
        if not exc.sent:  # no connection was made: nothing reached the platform
            attempt.not_sent()
            raise attempt.refused(messages.not_reachable(exc), ["other"]) from None
        return await _after_lost_answer(client, attempt, exc)
    except ScpError as exc:  # refused before a request existed: bad input or configuration
        attempt.not_sent()
        raise attempt.refused(messages.explain(exc, attempt.volume_id), ["other"]) from None
    attempt.answered(accepted.status, accepted.request_id)
    return ResizeAnswer(accepted.volume)


async def _after_lost_answer(client: ScpClient, attempt: Attempt, exc: ScpError) -> ResizeAnswer:
    """The request left and its answer was lost (a 5xx, a timeout, a dropped connection): what a read shows. It
    never leads to sending again: no read proves a resize was not applied (an attached volume stays in-use at its
    old size while it grows, and the platform may not have processed the request yet), and the platform offers no
    record of the request to ask. An unsettled fate stays an open attempt that blocks the volume."""
    volume = await _read_back(client, attempt, messages.lost_answer(exc))
    if volume.size >= attempt.target_gb:
        return ResizeAnswer(volume, messages.dropped_then_applied(exc))
    if volume.state in FAILED_STATES:
        raise Failed(messages.dropped_then_failed(exc, volume.state, volume.size), attempt) from None
    if volume.state not in SETTLED_STATES:
        return ResizeAnswer(volume, messages.dropped_in_progress(exc, volume.state))
    unknown = messages.fate_unknown(exc, volume.state, volume.size, attempt.target_gb, attempt.attempt_id)
    raise Failed(unknown, attempt) from None


async def _read_back(client: ScpClient, attempt: Attempt, what: str) -> Volume:
    try:
        return await client.show_volume(attempt.volume_id)
    except ScpError as exc:
        raise Failed(messages.read_back_failed(what, attempt.target_gb, exc, attempt.attempt_id), attempt) from None

"""SCP failures in words a model can act on (the platform's detail cleaned and bounded), and the quota note."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Final

from ..scp import (
    MAX_VOLUME_SIZE_GB,
    MIN_EXTEND_TARGET_GB,
    SIZE_STEP_GB,
    ScpBadRequest,
    ScpConfigError,
    ScpConflict,
    ScpError,
    ScpHttpError,
    ScpNotFound,
    ScpTransportError,
    ScpUnauthorized,
)
from ..untrusted_text import clean

RUN_DOCTOR: Final = "Run `scp-volume-mcp doctor` to check the endpoint, the keys and the network."


# --- SCP failures ---------------------------------------------------------------------------------


def _said(exc: object) -> str:
    """An error's own text (which may carry the platform's words) cleaned and bounded, for inside a sentence."""
    return clean(str(exc), EXPLAIN_LIMIT).text


def explain(exc: ScpError, volume_id: str | None = None) -> str:
    """An SCP failure in words a model can act on, the platform's detail cleaned and bounded. Never includes a
    credential."""
    return clean(_explain(exc, volume_id), EXPLAIN_LIMIT).text


EXPLAIN_LIMIT: Final = 600


def _explain(exc: ScpError, volume_id: str | None) -> str:
    if isinstance(exc, ScpNotFound) and volume_id:
        return f"No volume {volume_id} in this account and region (SCP 404). Find ids with list_volumes."
    if isinstance(exc, ScpUnauthorized):
        text = f"SCP refused the credentials (401: {exc.detail}). Check SCP_ACCESS_KEY and SCP_SECRET_KEY"
        skew = clock_skew_s(exc.date_header)
        if skew is not None and abs(skew) > 60:
            direction = "ahead of" if skew > 0 else "behind"
            return (
                f"{text}. This machine's clock is {abs(skew):.0f} s {direction} SCP's: correct it (NTP). {RUN_DOCTOR}"
            )
        return f"{text}, and that this machine's clock is correct. {RUN_DOCTOR}"
    if isinstance(exc, ScpConflict):
        return (
            f"SCP refused the change (409: {exc.detail}): the volume is busy or in a state that forbids it. "
            "Check it with get_volume and try again when it is available or in-use."
        )
    if isinstance(exc, ScpBadRequest):
        return f"SCP refused the request (400): {exc.detail}"
    if isinstance(exc, ScpHttpError):
        return f"{_said(exc)} {exc.hint}"
    if isinstance(exc, ScpTransportError) and not exc.sent:  # no connection: the endpoint or the network
        return f"{_said(exc)}. {RUN_DOCTOR}"
    if isinstance(exc, ScpConfigError):
        return f"{_said(exc)} {RUN_DOCTOR}"
    return str(exc)


def clock_skew_s(date_header: str | None) -> float | None:
    """Seconds this machine's clock is ahead of the server's `Date` header (negative: behind)."""
    if not date_header:
        return None
    try:
        server_time = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError):
        return None
    return time.time() - server_time


def size_hint(new_size_gb: int, current: int, quota_gb: int | None = None) -> str:
    """Why a size is not one the platform takes, with the nearest sizes that would be: larger than `current`,
    at least the smallest growth, and within the quota and the platform's largest volume."""
    largest = min(quota_gb, MAX_VOLUME_SIZE_GB) if quota_gb is not None else MAX_VOLUME_SIZE_GB
    if new_size_gb > MAX_VOLUME_SIZE_GB:
        return f"{new_size_gb} GB is larger than the largest volume the platform makes, {MAX_VOLUME_SIZE_GB} GB"
    lower = new_size_gb - new_size_gb % SIZE_STEP_GB
    candidates = [lower, lower + SIZE_STEP_GB] if new_size_gb % SIZE_STEP_GB else [MIN_EXTEND_TARGET_GB]
    options = [size for size in candidates if max(current + 1, MIN_EXTEND_TARGET_GB) <= size <= largest]
    rule = (
        f"sizes must be multiples of {SIZE_STEP_GB} GB"
        if new_size_gb % SIZE_STEP_GB
        else f"the smallest size a volume grows to is {MIN_EXTEND_TARGET_GB} GB"
    )
    return f"{rule}: try {' or '.join(map(str, options))} GB" if options else rule


# --- Quota meaning ---------------------------------------------------------------------------------


def quota_not_applied(why: str | None) -> str:
    """A plan's note when no per-volume limit was checked here."""
    if why == "unreadable":
        return "The per-volume quota could not be read, so no limit was checked here; the platform decides."
    return "The platform states no per-volume size limit, so none was checked here; the platform decides."

"""SCP failures in words a person or a model can act on. Never includes a credential."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from .scp import ScpBadRequest, ScpConflict, ScpError, ScpHttpError, ScpNotFound, ScpUnauthorized


def explain(exc: ScpError, volume_id: str | None = None) -> str:
    """An SCP failure in words a model can act on. Never includes a credential."""
    if isinstance(exc, ScpNotFound) and volume_id:
        return f"No volume {volume_id} in this account and region (SCP 404). Find ids with list_volumes."
    if isinstance(exc, ScpUnauthorized):
        text = f"SCP refused the credentials (401: {exc.detail}). Check SCP_ACCESS_KEY and SCP_SECRET_KEY"
        skew = clock_skew_s(exc.date_header)
        if skew is not None and abs(skew) > 60:
            direction = "ahead of" if skew > 0 else "behind"
            return f"{text}. This machine's clock is {abs(skew):.0f} s {direction} SCP's: correct it (NTP)."
        return f"{text}, and that this machine's clock is correct."
    if isinstance(exc, ScpConflict):
        return (
            f"SCP refused the change (409: {exc.detail}): the volume is busy or in a state that forbids it. "
            "Check it with get_volume and try again when it is available or in-use."
        )
    if isinstance(exc, ScpBadRequest):
        return f"SCP refused the request (400): {exc.detail}"
    if isinstance(exc, ScpHttpError):
        return f"{exc} {exc.hint}"
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

"""Writing an attempt's records: the intent fails closed (nothing is sent without it), the outcome is written
whatever happens to the call and, when it cannot be, logged loudly."""

from __future__ import annotations

import logging

import anyio

from .records import AuditError, AuditRecord, AuditTrail

logger = logging.getLogger("scp_volume_mcp")

AUDIT_WRITE_S = 30.0
"""The longest an audit write may take (a database trail may wait for a pooled connection)."""


async def write_intent(trail: AuditTrail, record: AuditRecord) -> None:
    """Store the intent before a resize leaves; raises `AuditError` when it cannot be stored."""
    if not trail.enabled:  # SCP_AUDIT_LOG=off: no deadline to arm for nothing
        return
    try:
        with anyio.fail_after(AUDIT_WRITE_S):
            await trail.write(record)
    except TimeoutError:
        raise AuditError(f"writing the audit intent took longer than {AUDIT_WRITE_S:g} s") from None
    except UnicodeError as exc:
        raise AuditError(str(exc)) from None


async def write_outcome(trail: AuditTrail, record: AuditRecord) -> None:
    """Store an outcome. A cancellation (the client's, or its disconnection) does not interrupt it, though a
    stuck trail does not hold the call forever; a failure is logged, never raised (the request may be sent)."""
    if not trail.enabled:
        return
    try:
        with anyio.move_on_after(AUDIT_WRITE_S, shield=True) as scope:
            await trail.write(record)
        if scope.cancelled_caught:
            raise AuditError(f"writing the audit outcome took longer than {AUDIT_WRITE_S:g} s")
    except (AuditError, UnicodeError) as exc:
        logger.error("%s; this extension attempt's outcome is not in the audit trail", exc)

"""Preflight: the one place that reads the volume for an extension, judges it, refuses, and records a refusal.

Every way in (the `extend_volume` tool, the confirmation card, a second person's approval) calls `preflight`
before anyone is asked and, under the volume's lock, once more right before the attempt runs: the only read
when nobody is asked, the safety read after a person's answer. No MCP here.
"""

from __future__ import annotations

from typing import NoReturn

from .. import messages
from ..audit import AuditError
from ..scp import ScpError, ScpNotFound
from .attempt import Attempt
from .live_check import LiveCheck, check_volume
from .request import ExtensionRequest
from .services import Services


async def preflight(
    services: Services, request: ExtensionRequest, *, under_lock: bool, quota_set: bool = False
) -> LiveCheck:
    """Read the volume (and the quota beside it) and judge the request; a refusal is recorded and raised as
    `Refused`. `under_lock`: the volume's lock is held, so the trail must be readable (a read that settles an
    open attempt closes it there), and what a person approved must still hold. `quota_set`: read the whole
    quota set (with the snapshot count) even without a snapshot first, for a question that names the way back."""
    if not request.may_extend:  # before anything is read: this caller may look, not extend
        await refuse(services, request, None, messages.MISSING_EXTEND_SCOPE, ["scope"])
    try:
        check = await check_volume(services.scp, services.ledger, request.volume_id, request.target_gb,
                                   quota_set=request.snapshot_first or quota_set, policy=services.policy,
                                   strict=under_lock)  # fmt: skip
    except ScpError as exc:
        code = "not_found" if isinstance(exc, ScpNotFound) else "unreadable"
        await refuse(services, request, None, messages.explain(exc, request.volume_id), [code])
    except AuditError as exc:
        await refuse(services, request, None, messages.audit_unreadable(str(exc)), ["audit"])
    approved = request.approved_from
    if approved is not None and check.volume.size != approved.size_gb:  # what the person said yes to is gone
        if approved.request_id is None:
            changed = messages.card_changed(check.label, shown=approved.size_gb, now=check.volume.size)
        else:
            was, now = approved.size_gb, check.volume.size
            changed = messages.changed_since_request(check.label, approved.request_id, requested_from=was, now=now)
        await refuse(services, request, check, changed, ["state"])
    if check.assessment.verdict == "refused":
        reasons = messages.refusal(check.label, check.assessment.reasons)
        await refuse(services, request, check, reasons, check.assessment.codes)
    return check


async def refuse(
    services: Services,
    request: ExtensionRequest,
    check: LiveCheck | None,
    message: str,
    codes: list[str],
    *,
    current_size_gb: int | None = None,
) -> NoReturn:
    """Record an attempt refused before anything was sent, and raise the refusal. `check`: the volume as read,
    if it was; `current_size_gb`: the size known otherwise (a second person's request says what it was)."""
    size = check.volume.size if check is not None else current_size_gb
    attempt = Attempt.of(request, size, services.scp)
    await attempt.settle(services.trail, "refused", message)
    raise attempt.refused(message, codes, check.per_volume_quota_gb if check is not None else None)

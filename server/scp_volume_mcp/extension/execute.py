"""Execute: the one path of a consented extension, and the owner of its attempt.

`extend` takes the volume's lock and reads under it (`preflight`: the only read when nobody was asked, the
safety read after a person's answer), then `execute` writes the intent, takes the snapshot first when decided,
checks that the lock is still held, sends the resize once, and optionally waits for the platform. Whatever
happens (a result, a refusal, a failure, a cancellation), the attempt's outcome is written. `conclude` records
an attempt that sends nothing (a decline, a size already there or under way, a question left to a card or a
second person). No MCP here: progress goes out through a callback.
"""

from __future__ import annotations

import contextlib
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio

from .. import messages, tracing
from ..coordination import CoordinationError, HeldLock
from ..models import Outcome
from ..scp import FAILED_STATES, ScpError
from ..snapshots import snapshot_quota_of
from .attempt import Attempt, ExtensionReport, Failed
from .conclude import conclude
from .errors import Refused
from .live_check import LiveCheck
from .preflight import preflight, refuse
from .request import ExtensionRequest
from .second_person import file_request
from .send import send_resize
from .services import Services
from .snapshot_step import SnapshotStep
from .waiting import Progress, settled, wait_until_settled

INTERRUPTED_READ_BACK_S = 5.0
"""How long a cancelled call may take to read the volume back for its audit outcome."""


@dataclass(frozen=True)
class Locked:
    """The volume's lock, held, with the check read under it (after a person's answer, see
    `mcp_tools.extend_tool`): `extend` then neither locks nor reads again."""

    held: HeldLock
    check: LiveCheck


@dataclass(frozen=True)
class Run:
    """How to run an extension: wait for the platform or not, for how long, and where progress goes."""

    wait: bool = False
    timeout_s: float = 300.0
    progress: Progress | None = None


async def extend(
    services: Services, request: ExtensionRequest, run: Run, locked: Locked | None = None
) -> ExtensionReport:
    """Under the volume's lock: the read and the judgement, then the attempt. A refusal raises `Refused`
    (recorded), a failure after a request left raises `Failed` (recorded)."""
    if locked is not None:
        return await execute(services, request, locked.check, locked.held, run)
    async with AsyncExitStack() as stack:
        try:
            held = await stack.enter_async_context(services.ledger.volume_lock(request.volume_id))
        except CoordinationError as exc:  # the lock could not be had: nothing was read or sent
            await refuse(services, request, None, messages.coordination_unavailable(str(exc)), ["lock"])
        check = await preflight(services, request, under_lock=True)
        return await execute(services, request, check, held, run)


async def execute(
    services: Services, request: ExtensionRequest, check: LiveCheck, held: HeldLock, run: Run
) -> ExtensionReport:
    """Run the attempt that `check` (read under `held`) allows, and write its outcome whatever happens."""
    verdict = check.assessment.verdict
    if verdict in ("unchanged", "under_way"):  # nothing to send: said, not an error
        return await conclude(services, request, check.volume, verdict, under_way=check.assessment.under_way)
    rule = check.approval_rule
    if rule is not None and request.confirmed_by != "approval":  # the team's policy wants a second person
        return await file_request(services, request, check, rule)
    attempt = Attempt.of(request, check.volume.size, services.scp)
    try:
        report = await _run(services, attempt, check, held, run)
    except Refused as exc:
        await attempt.settle(services.trail, "refused", exc.message)
        raise
    except Failed as exc:
        await attempt.settle(services.trail, "failed", exc.message)
        raise
    except BaseException:  # cancelled by the client, its disconnection or its session's end
        with anyio.CancelScope(shield=True):
            detail = await _interrupted(services, attempt)
            await attempt.settle(services.trail, "interrupted", detail)
        raise
    await attempt.settle(services.trail, report.outcome, report.note)
    return report


async def _run(services: Services, attempt: Attempt, check: LiveCheck, held: HeldLock, run: Run) -> ExtensionReport:
    client = services.scp.client()  # made already: the check read through it
    await attempt.write_intent(services.trail)  # fail closed: no intent stored, nothing sent
    if attempt.snapshot_first:
        with tracing.span("scp_volume_mcp.snapshot", **{"scp.volume_id": attempt.volume_id}):
            step = SnapshotStep(client, attempt, timeout_s=run.timeout_s, poll_s=services.poll_s,
                                progress=run.progress, unfinished=services.ledger.unfinished_snapshots)  # fmt: skip
            quota = check.quota_set
            await step.take(check.volume, snapshot_quota_of(quota.quota) if quota is not None else "unread")
    try:
        await held.verify()  # a lock lost by now (its database session ended) sends nothing
    except CoordinationError as exc:
        raise attempt.refused(messages.coordination_unavailable(str(exc)), ["lock"]) from None
    try:
        with tracing.span("scp_volume_mcp.resize", **{"scp.volume_id": attempt.volume_id}) as span:
            answer = await send_resize(client, attempt)
            span.set_attributes({"scp.sent": True, "http.response.status_code": attempt.status or 0})
    finally:
        services.ledger.remember(attempt)
    volume, note, waited_s = answer.volume, answer.note, None
    if run.wait and not settled(volume, attempt.target_gb):
        started = time.monotonic()
        volume, note = await wait_until_settled(client, attempt.volume_id, attempt.target_gb, volume,
                                                timeout_s=run.timeout_s, poll_s=services.poll_s,
                                                progress=run.progress)  # fmt: skip
        waited_s = time.monotonic() - started
        if volume.state in FAILED_STATES:
            raise Failed(messages.extension_failed(attempt.volume_id, volume.state, volume.size), attempt)
    outcome: Outcome = "completed" if settled(volume, attempt.target_gb) else "accepted"
    return ExtensionReport(outcome, volume, attempt, waited_s, note)


async def _interrupted(services: Services, attempt: Attempt) -> str:
    """The call ended under us: whether a resize was sent and, if so, what a quick read shows now."""
    seen = None
    if attempt.sent:
        with anyio.move_on_after(INTERRUPTED_READ_BACK_S), contextlib.suppress(ScpError):
            seen = await services.scp.client().show_volume(attempt.volume_id)
    return messages.interrupted(attempt.sent, seen.size if seen else None, seen.state if seen else None)

"""The facts of one extension attempt, in one record, and the only writer of its audit records.

Everything an attempt learns (the size before, whether a request left, the platform's answer, the snapshot taken
first) is set through this class's methods, and its records (the intent before a resize leaves, the outcome of
every attempt, the `close` of one a read settled) are written from here. The rest reads it: the report returned
(`ExtensionReport.attempt`) and the failure raised (`Failed.attempt`). No MCP here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .. import messages
from ..audit import AuditError, AuditRecord, AuditTrail, Phase, new_attempt_id
from ..audit.open_attempts import OpenAttempt
from ..audit.records import replica_name
from ..audit.writer import write_intent, write_outcome
from ..models import ConfirmedBy, Outcome
from ..scp import FAILED_STATES, Snapshot, Volume
from ..scp_connection import ScpConnection
from ..team.approvals import ApprovalRequest
from .errors import Refused
from .request import ExtensionRequest

RecordedOutcome = Outcome | Literal["refused", "failed", "interrupted"]


@dataclass
class Attempt:
    """One extension of `volume_id` to `target_gb`, as known so far. Change it only through its methods."""

    volume_id: str
    """The id asked for (what requests use)."""
    target_gb: int
    previous_size_gb: int | None
    """The size last read before the resize was sent; None when nothing was read."""
    snapshot_first: bool = False
    """Whether this extension takes a snapshot first: the policy and the caller's choice, decided once."""
    api_version: str | None = None
    caller: str | None = None
    """The authenticated caller (an OAuth subject), when there is one."""
    client_claimed: str | None = None
    """The name the MCP client gave for itself: a claim, not an identity."""
    confirmed_by: ConfirmedBy | None = None
    approval_note: str | None = None
    """The second person's request behind it: its id, who asked and who approved."""
    endpoint: str | None = None
    """The SCP endpoint the attempt's requests go to (a rehearsal's emulator, or a region)."""
    sent: bool = False
    """Whether a resize request left this process."""
    status: int | None = None
    """The HTTP status of the resize request's answer."""
    request_id: str | None = None
    snapshot: Snapshot | None = None
    """The snapshot taken first (as last read), or the one found after an ambiguous create."""
    snapshot_reused: bool = False
    """The snapshot was taken by an earlier attempt of this server, and reused."""
    replica: str = field(default_factory=replica_name)
    attempt_id: str = field(default_factory=new_attempt_id)
    started: str | None = None
    """When its intent was stored (ISO 8601, UTC); None until then."""

    @classmethod
    def of(cls, request: ExtensionRequest, previous_size_gb: int | None, scp: ScpConnection) -> Attempt:
        """The attempt at `request`, with the API version and the endpoint of the SCP client, once it exists."""
        return cls(
            request.volume_id,
            request.target_gb,
            previous_size_gb,
            snapshot_first=request.snapshot_first,
            api_version=scp.api_version,
            caller=request.caller,
            client_claimed=request.client_claimed,
            confirmed_by=request.confirmed_by,
            approval_note=request.approval_note,
            endpoint=scp.endpoint,
        )

    @property
    def resize_may_be_pending(self) -> bool:
        """A resize left and the platform did not refuse it: until a read shows it, it may be under way. A 5xx
        proves nothing: a gateway may have answered after the platform applied it."""
        refused = self.status is not None and 400 <= self.status < 500
        return self.sent and not refused

    # --- what the attempt learns -------------------------------------------------------------------------

    def read(self, volume: Volume) -> None:
        """The volume as read before the resize (under the lock, after a snapshot)."""
        self.previous_size_gb = volume.size

    def sending(self) -> None:
        self.sent = True

    def not_sent(self) -> None:
        """No connection was made: nothing reached the platform."""
        self.sent = False

    def answered(self, status: int | None, request_id: str | None) -> None:
        self.status, self.request_id = status, request_id

    def took_snapshot(self, snapshot: Snapshot | None, *, reused: bool = False) -> None:
        """The snapshot taken first (None: the platform no longer vouches for it, so it is not the way back)."""
        self.snapshot, self.snapshot_reused = snapshot, reused

    # --- its records ---------------------------------------------------------------------------------------

    async def write_intent(self, trail: AuditTrail) -> None:
        """Fail closed: no resize (nor the snapshot before it) leaves unless its intent is stored."""
        intent = self._record("intent")
        self.started = intent.time
        try:
            await write_intent(trail, intent)
        except AuditError as exc:
            raise self.refused(messages.audit_unwritable(str(exc)), ["audit"]) from None

    async def settle(self, trail: AuditTrail, outcome: RecordedOutcome, detail: str | None = None) -> None:
        """Store how the attempt ended (never raises: the outcome of a sent resize must not be lost to an error)."""
        await write_outcome(trail, self._record("outcome", outcome, detail))

    def refused(self, message: str, codes: list[str], per_volume_quota_gb: int | None = None) -> Refused:
        """The refusal of this attempt (nothing sent), to raise."""
        return Refused(message, codes, volume_id=self.volume_id, current_size_gb=self.previous_size_gb,
                       requested_size_gb=self.target_gb, per_volume_quota_gb=per_volume_quota_gb)  # fmt: skip

    def _record(self, phase: Phase, outcome: RecordedOutcome | None = None, detail: str | None = None) -> AuditRecord:
        return AuditRecord(
            phase=phase,
            attempt_id=self.attempt_id,
            tool="extend_volume",
            volume_id=self.volume_id,
            previous_size_gb=self.previous_size_gb,
            requested_size_gb=self.target_gb,
            outcome=outcome,
            api_version=self.api_version,
            http_status=self.status,
            request_id=self.request_id,
            client_claimed=self.client_claimed,
            caller=self.caller,
            detail="; ".join(part for part in (detail, self.approval_note) if part) or None,
            snapshot_id=self.snapshot.id if self.snapshot is not None else None,
            replica=self.replica,
            endpoint=self.endpoint,
            resize_pending=self.resize_may_be_pending and outcome != "completed" if phase == "outcome" else None,
        )


async def close_settled(trail: AuditTrail, attempt: OpenAttempt, volume: Volume) -> None:
    """A read settled an open attempt (the volume shows its size, or a failed state): say so in the trail, so
    that no process asks again."""
    failed = volume.state in FAILED_STATES
    record = AuditRecord(
        phase="close",
        attempt_id=attempt.attempt_id,
        tool="extend_volume",
        volume_id=attempt.volume_id,
        previous_size_gb=None,
        requested_size_gb=attempt.target_gb,
        outcome="failed" if failed else "completed",
        api_version=None,
        detail=messages.closed_by_read(volume.size, volume.state),
        replica=replica_name(),
        endpoint=attempt.endpoint,
        time=datetime.now(UTC).isoformat(timespec="milliseconds"),
    )
    await write_outcome(trail, record)


@dataclass(frozen=True)
class ExtensionReport:
    """How an extension ended without an error: the outcome, the volume as last seen, and the attempt."""

    outcome: Outcome
    volume: Volume
    attempt: Attempt
    waited_s: float | None = None
    note: str | None = None
    under_way: OpenAttempt | None = None
    """For `under_way`: the attempt already resizing the volume to this size."""
    approval: ApprovalRequest | None = None
    """For `awaiting_approval`: the request filed for a second person."""


class Failed(Exception):
    """A resize request left this process and the platform refused it, or its fate could not be settled."""

    def __init__(self, message: str, attempt: Attempt) -> None:
        super().__init__(message)
        self.message = message
        self.attempt = attempt

    @property
    def explained(self) -> str:
        """The message, naming the snapshot taken first (the way back)."""
        snapshot = self.attempt.snapshot
        if snapshot is None:
            return self.message
        return self.message + messages.snapshot_before_failure(messages.snapshot_label(snapshot.name, snapshot.id))

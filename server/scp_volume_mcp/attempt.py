"""The facts of one `extend_volume` attempt, in one record.

The tool starts an `Attempt`; the extend operation, the snapshot step and the resize request fill it in as they
learn (the size before, whether a request left, the platform's status and request id, the snapshot taken first).
Everything else reads it: the audit records (`Attempt.record`), the error raised (`ExtendError.attempt`) and the
report returned (`ExtendReport.attempt`). No MCP here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from . import messages
from .audit import AuditRecord, Phase, new_attempt_id
from .audit.records import replica_name
from .scp import Snapshot, Volume

ConfirmedBy = Literal["human", "flag", "approval"]
Outcome = Literal[
    "completed", "accepted", "unchanged", "declined", "cancelled", "awaiting_approval", "awaiting_confirmation"
]
RecordedOutcome = Outcome | Literal["refused", "failed", "interrupted"]


@dataclass
class Attempt:
    """One call's extension of `volume_id` to `target_gb`, as known so far."""

    volume_id: str
    """The id asked for (what requests use)."""
    target_gb: int
    previous_size_gb: int
    """The size last read before the resize was sent (re-read under the lock)."""
    snapshot_first: bool = False
    """Whether this extension takes a snapshot first: the policy and the caller's argument, decided once."""
    api_version: str | None = None
    caller: str | None = None
    """The authenticated caller (an OAuth subject), when there is one."""
    client_claimed: str | None = None
    """The name the MCP client gave for itself: a claim, not an identity."""
    confirmed_by: ConfirmedBy | None = None
    sent: bool = False
    """Whether a resize request left this process."""
    status: int | None = None
    """The HTTP status of the resize request's answer."""
    request_id: str | None = None
    snapshot: Snapshot | None = None
    """The snapshot taken first (as last read), or the one found after an ambiguous create."""
    snapshot_reused: bool = False
    """The snapshot was taken by an earlier attempt of this server, and reused (see `snapshots.reusable_snapshot`)."""
    replica: str = field(default_factory=replica_name)
    attempt_id: str = field(default_factory=new_attempt_id)
    started: str | None = None
    """When its intent was stored (ISO 8601, UTC); None until then."""
    approved_from_gb: int | None = None
    """The size a person approved growing from (a card, a second person's request): under the lock the volume
    must still have it, or nothing is sent."""
    approval_note: str | None = None
    """The second approver's request behind it: its id, who asked and who approved (`approval_tools`)."""

    @property
    def resize_may_be_pending(self) -> bool:
        """A resize left and the platform did not refuse it: until a read shows it, it may be under way."""
        refused = self.status is not None and self.status >= 400
        return self.sent and not refused

    def record(self, phase: Phase, outcome: RecordedOutcome | None = None, detail: str | None = None) -> AuditRecord:
        """This attempt as an audit record: the intent (before a resize leaves) or its outcome."""
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
            resize_pending=self.resize_may_be_pending and outcome != "completed" if phase == "outcome" else None,
        )


@dataclass(frozen=True)
class ExtendReport:
    """How an extension ended without an error: the outcome, the volume as last seen, and the attempt."""

    outcome: Outcome
    volume: Volume
    attempt: Attempt
    waited_s: float | None = None
    note: str | None = None


class ExtendError(Exception):
    """The extension did not happen as asked; `attempt.sent` says whether a resize request left this process."""

    def __init__(self, message: str, attempt: Attempt, codes: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.attempt = attempt
        self.codes = codes or []
        """Why, as `models.Refusal` codes (empty: not said)."""

    @property
    def sent(self) -> bool:
        return self.attempt.sent

    @property
    def explained(self) -> str:
        """The message, naming the snapshot taken first when a resize was sent after it (the way back)."""
        snapshot = self.attempt.snapshot
        if not self.attempt.sent or snapshot is None:
            return self.message
        return self.message + messages.snapshot_before_failure(messages.snapshot_label(snapshot.name, snapshot.id))

    @staticmethod
    def of(message: str, attempt: Attempt, codes: list[str] | None = None) -> ExtendError:
        """`ExtendFailed` once a resize request has left, else `ExtendRefused`."""
        return (ExtendFailed if attempt.sent else ExtendRefused)(message, attempt, codes)


class ExtendRefused(ExtendError):
    """Nothing was sent: a guard, a failed read, the snapshot step, the lock or the audit trail stopped it."""


class ExtendFailed(ExtendError):
    """A resize request was sent and the platform refused it, or its fate could not be settled as hoped."""

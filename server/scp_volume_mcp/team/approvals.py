"""The second approver's requests and decisions, in the team database (schema version 3 and later, `team/schema.py`).

A request is a row nobody changes; a decision is a row whose primary key is the request's id, so a request is
decided once: of two approvals racing on two replicas, one INSERT wins and the other fails, and only the winner
runs the extension. Ages and expiries are measured by the database's clock, which stamped every row. Subjects
and reasons are caller-supplied: they are stored cleaned and bounded, as the audit trail stores text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from ..audit.records import new_attempt_id, replica_name
from ..untrusted_text import clean
from .database import Database, DatabaseError
from .schema import DECISIONS_TABLE, REQUESTS_TABLE

TEXT_LIMIT = 200
"""Characters kept of a subject, a volume name or a reason."""
Decision = Literal["approved", "declined"]
_COLUMNS = ("request_id", "time", "ttl_s", "volume_id", "volume_name", "previous_size_gb", "requested_size_gb",
            "snapshot_first", "rule", "requester")  # fmt: skip


@dataclass(frozen=True)
class ApprovalRequest:
    """An extension waiting for (or given) a second person's decision."""

    request_id: str
    time: datetime
    ttl_s: float
    volume_id: str
    volume_name: str | None
    previous_size_gb: int
    requested_size_gb: int
    snapshot_first: bool
    rule: str
    """The policy rule that sent it to approval, as its label."""
    requester: str
    now: datetime
    """The database's clock when it was read."""
    decision: Decision | None = None
    approver: str | None = None
    reason: str | None = None

    @property
    def expires_at(self) -> datetime:
        return self.time + timedelta(seconds=self.ttl_s)

    @property
    def expired(self) -> bool:
        return self.now >= self.expires_at

    @property
    def age_s(self) -> float:
        return (self.now - self.time).total_seconds()


class ApprovalError(Exception):
    """The approvals could not be read or written; the message says why (never the database's password)."""


def stored_subject(subject: str) -> str:
    """A subject as a request stores it (cleaned, bounded): compare an approver's subject in this form, so
    that invisible characters or a length past the bound cannot make one person two."""
    return clean(subject, TEXT_LIMIT).text


def _text(value: str | None) -> str | None:
    """A volume name or a reason, stored as subjects are."""
    return stored_subject(value) if value is not None else None


class ApprovalStore:
    """Requests and decisions in the team database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _run(self, query: str, params: Any, *, fetch: bool = False) -> list[tuple[Any, ...]]:
        try:
            await self.database.ensure_schema()
            return await self.database.execute(query.encode(), params, fetch=fetch)
        except DatabaseError as exc:
            raise ApprovalError(f"the approvals cannot be reached: {exc}") from None
        except Exception as exc:
            raise ApprovalError(f"the approvals in {self.database.display_url}: {self.database.safe(exc)}") from None

    async def create(self, *, volume_id: str, volume_name: str | None, previous_size_gb: int, requested_size_gb: int,
                     snapshot_first: bool, rule: str, requester: str, ttl_s: float) -> ApprovalRequest:  # fmt: skip
        """Store a new request and return it as stored (its time from the database)."""
        request_id = new_attempt_id()
        row = (request_id, ttl_s, volume_id, _text(volume_name), previous_size_gb, requested_size_gb,
               snapshot_first, rule, stored_subject(requester), replica_name())  # fmt: skip
        try:
            await self._run(
                f"INSERT INTO {REQUESTS_TABLE} (request_id, time, ttl_s, volume_id, volume_name, previous_size_gb, "  # noqa: S608
                "requested_size_gb, snapshot_first, rule, requester, replica) "
                "VALUES (%s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                row,
            )
        except ApprovalError:  # a retry after a dropped connection may find its own first INSERT committed
            if await self.get(request_id) is None:
                raise
        found = await self.get(request_id)
        if found is None:
            raise ApprovalError(f"request {request_id} was stored but cannot be read back")
        return found

    async def get(self, request_id: str) -> ApprovalRequest | None:
        """The request with its decision, if any; None when no such request exists."""
        rows = await self._run(f"{_SELECT} WHERE r.request_id = %s", (request_id,), fetch=True)
        return _request(rows[0]) if rows else None

    async def open_requests(self, limit: int = 50) -> list[ApprovalRequest]:
        """Undecided requests that have not expired, the oldest first."""
        query = f"{_SELECT} WHERE d.request_id IS NULL AND now() < r.time + make_interval(secs => r.ttl_s) "
        rows = await self._run(query + "ORDER BY r.time LIMIT %s", (limit,), fetch=True)
        return [_request(row) for row in rows]

    async def decide(self, request_id: str, decision: Decision, approver: str, reason: str | None) -> bool:
        """Record the decision if the request is undecided and has not expired (judged at the INSERT, by the
        database's clock); False otherwise (another replica's decision won, or the time ran out). A statement
        retried after a dropped connection recognizes its own committed row by its nonce."""
        nonce = new_attempt_id()
        rows = await self._run(
            f"INSERT INTO {DECISIONS_TABLE} (request_id, time, decision, approver, reason, replica, nonce) "  # noqa: S608
            f"SELECT r.request_id, now(), %s, %s, %s, %s, %s FROM {REQUESTS_TABLE} r WHERE r.request_id = %s "
            "AND now() < r.time + make_interval(secs => r.ttl_s) ON CONFLICT (request_id) DO NOTHING RETURNING nonce",
            (decision, stored_subject(approver), _text(reason), replica_name(), nonce, request_id),
            fetch=True,
        )
        if rows:
            return True
        mine = await self._run(f"SELECT nonce FROM {DECISIONS_TABLE} WHERE request_id = %s", (request_id,), fetch=True)  # noqa: S608
        return bool(mine) and mine[0][0] == nonce


_SELECT = (
    f"SELECT {', '.join('r.' + c for c in _COLUMNS)}, now(), d.decision, d.approver, d.reason "  # noqa: S608
    f"FROM {REQUESTS_TABLE} r LEFT JOIN {DECISIONS_TABLE} d ON d.request_id = r.request_id"
)


def _request(row: tuple[Any, ...]) -> ApprovalRequest:
    fields = dict(zip((*_COLUMNS, "now", "decision", "approver", "reason"), row, strict=True))
    return ApprovalRequest(**fields)

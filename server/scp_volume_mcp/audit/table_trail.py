"""The audit trail as rows of the team database's append-only table `scp_volume_audit` (team mode)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..team.database import Database, DatabaseError
from ..team.schema import AUDIT_COLUMNS, TABLE
from .open_attempts import PENDING_TTL_S, OpenAttempt, open_attempts
from .recent_growth import GROWTH_WINDOW_S, recent_growth_gb
from .records import AuditError, AuditRecord, replica_name

OPEN_ATTEMPT_COLUMNS = ("attempt_id", "phase", "outcome", "resize_pending", "requested_size_gb", "volume_id",
                        "replica", "endpoint", "time")  # fmt: skip
GROWTH_COLUMNS = ("attempt_id", "phase", "outcome", "resize_pending", "previous_size_gb", "requested_size_gb",
                  "volume_id", "time")  # fmt: skip


class TableAuditTrail:
    """The audit trail as rows of `scp_volume_audit`: a write returns once PostgreSQL has committed it
    (durable, as the file's fsync is). Raises `AuditError` when the database cannot take it."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __repr__(self) -> str:
        return f"TableAuditTrail({self.database.display_url!r})"

    @property
    def enabled(self) -> bool:
        return True

    def _problem(self, exc: Exception) -> str:
        return f"cannot write the audit trail in {self.database.display_url}: {self.database.safe(exc)}"

    async def check_writable(self) -> None:
        try:
            await self.database.ensure_schema()
            async with self.database.audit_connection() as conn:
                cursor = await conn.execute("SELECT has_table_privilege(%s, 'INSERT')", (TABLE,))
                row = await cursor.fetchone()
        except DatabaseError as exc:
            raise AuditError(f"cannot write the audit trail: {exc}") from None
        except Exception as exc:
            raise AuditError(self._problem(exc)) from None
        if not (row and row[0]):
            raise AuditError(f"cannot write the audit trail: no INSERT privilege on {TABLE}")

    async def write(self, record: AuditRecord) -> None:
        row = record_row(record, self.database.replica or replica_name())
        row["time"] = datetime.fromisoformat(row["time"])
        columns = ", ".join(AUDIT_COLUMNS)
        placeholders = ", ".join(f"%({c})s" for c in AUDIT_COLUMNS)
        try:
            await self.database.ensure_schema()
            await self.database.execute(f"INSERT INTO {TABLE} ({columns}) VALUES ({placeholders})".encode(), row)  # noqa: S608
        except DatabaseError as exc:
            raise AuditError(f"cannot write the audit trail: {exc}") from None
        except Exception as exc:
            raise AuditError(self._problem(exc)) from None

    async def open_attempts(self, volume_id: str) -> list[OpenAttempt]:
        """Every record of the volume's attempts that have one in the last `PENDING_TTL_S`, whatever the age of
        the others: an attempt's expiry counts from its latest record, as in the file trail, so an intent hours
        old (a snapshot taken first) whose pending outcome is recent still blocks. The indexes on volume and
        time, and on attempt, serve it."""
        query = (  # aged by the database's clock, which stamped every row (see team/schema.py)
            f"SELECT {', '.join(OPEN_ATTEMPT_COLUMNS)}, now() FROM {TABLE} "  # noqa: S608
            f"WHERE volume_id = %(volume)s AND attempt_id IN (SELECT attempt_id FROM {TABLE} "
            "WHERE volume_id = %(volume)s AND time >= now() - make_interval(secs => %(window)s)) ORDER BY time, id"
        )
        rows = await self._read(query, {"volume": volume_id, "window": PENDING_TTL_S})
        if not rows:
            return []
        return open_attempts([_record(OPEN_ATTEMPT_COLUMNS, row[:-1]) for row in rows], volume_id, now=rows[0][-1])

    async def recent_growth_gb(self, volume_id: str, exclude: str | None = None) -> int:
        """From the volume's records of the last day (the index on volume and time serves it), counted at the
        database's clock."""
        rows = await self._recent_rows(GROWTH_COLUMNS, volume_id, GROWTH_WINDOW_S)
        if not rows:
            return 0
        records = [_record(GROWTH_COLUMNS, row[:-1]) for row in rows]
        return recent_growth_gb(records, volume_id, now=rows[0][-1], exclude=exclude)

    async def _recent_rows(self, columns: tuple[str, ...], volume_id: str, window_s: float) -> list[tuple[Any, ...]]:
        """The volume's rows of the last `window_s`, oldest first, each ending with the database's `now()`."""
        query = (  # aged by the database's clock, which stamped every row (see team/schema.py)
            f"SELECT {', '.join(columns)}, now() FROM {TABLE} "  # noqa: S608
            "WHERE volume_id = %(volume)s AND time >= now() - make_interval(secs => %(window)s) ORDER BY time, id"
        )
        return await self._read(query, {"volume": volume_id, "window": window_s})

    async def _read(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one query, each ending with the database's `now()`; raises `AuditError`."""
        try:
            await self.database.ensure_schema()
            return await self.database.execute(query.encode(), params, fetch=True)
        except DatabaseError as exc:
            raise AuditError(f"cannot read the audit trail: {exc}") from None
        except Exception as exc:
            problem = f"cannot read the audit trail in {self.database.display_url}: {self.database.safe(exc)}"
            raise AuditError(problem) from None


def _record(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(columns, row, strict=True))
    record["time"] = record["time"].isoformat()
    return record


def record_row(record: AuditRecord, replica: str) -> dict[str, Any]:
    """An audit record as a row of the table, through the trail's own serialization: the same cleaning and
    limits as the file's lines; `replica` when the record names none."""
    fields = json.loads(record.line())
    fields["replica"] = fields.get("replica") or replica
    return {column: fields.get(column) for column in AUDIT_COLUMNS}

"""The audit trail as rows of the team database's append-only table `scp_volume_audit` (team mode)."""

from __future__ import annotations

from datetime import datetime

from ..team.database import AUDIT_COLUMNS, TABLE, Database, DatabaseError, record_row
from .records import AuditError, AuditRecord


class TableAuditTrail:
    """The audit trail as rows of `scp_volume_audit`: a write returns once PostgreSQL has committed it
    (durable, as the file's fsync is). Raises `AuditError` when the database cannot take it."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __repr__(self) -> str:
        return f"TableAuditTrail({self.database.display_url!r})"

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
        row = record_row(record, self.database.replica)
        row["time"] = datetime.fromisoformat(row["time"])
        columns = ", ".join(AUDIT_COLUMNS)
        placeholders = ", ".join(f"%({c})s" for c in AUDIT_COLUMNS)
        try:
            await self.database.ensure_schema()
            async with self.database.audit_connection() as conn:
                await conn.execute(f"INSERT INTO {TABLE} ({columns}) VALUES ({placeholders})".encode(), row)  # noqa: S608
        except DatabaseError as exc:
            raise AuditError(f"cannot write the audit trail: {exc}") from None
        except Exception as exc:
            raise AuditError(self._problem(exc)) from None

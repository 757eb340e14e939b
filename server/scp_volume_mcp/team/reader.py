"""The synchronous reader of the team database's audit table, for `scp-volume-mcp audit`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .database import CONNECT_TIMEOUT_S, Database, DatabaseError, require_team_extra
from .schema import AUDIT_COLUMNS, TABLE


def read_rows(url: str, *, volume_id: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
    """The trail's records, oldest first (synchronous: for `scp-volume-mcp audit`). Raises `DatabaseError`."""
    require_team_extra()
    import psycopg
    from psycopg.rows import dict_row

    conditions: list[str] = []
    params: dict[str, Any] = {}
    if volume_id is not None:
        conditions.append("volume_id = %(volume_id)s")
        params["volume_id"] = volume_id
    if since is not None:
        conditions.append("time >= %(since)s")
        params["since"] = since
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    query = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {TABLE} {where} ORDER BY time, id"  # noqa: S608
    database = Database(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row) as conn:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,)).fetchone()
            if not (exists and exists["present"]):
                return []
            rows = conn.execute(query.encode(), params).fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read the audit trail from {database.display_url}: {database.safe(exc)}") from None
    return [_jsonable(row) for row in rows]


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else value
            for key, value in row.items()}  # fmt: skip

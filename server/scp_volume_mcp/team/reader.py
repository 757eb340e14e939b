"""The synchronous reader of the team database's audit table, for `scp-volume-mcp audit`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..audit.records import endpoint_key
from .database import CONNECT_TIMEOUT_S, Database, DatabaseError, require_team_extra
from .schema import AUDIT_COLUMNS, TABLE

COLUMNS_PRESENT = (
    "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass(%s) AND attnum > 0 "
    "AND NOT attisdropped"
)


def read_rows(
    url: str, *, volume_id: str | None = None, since: datetime | None = None, endpoint: str | None = None
) -> list[dict[str, Any]]:
    """The trail's records, oldest first (synchronous: for `scp-volume-mcp audit`). `endpoint`: only the rows
    naming that endpoint, compared as `audit.records.endpoint_key` does (a row naming none is left out). A table
    from an older schema is read as it is, its missing columns as None (so `audit` works before `db migrate`).
    Raises `DatabaseError`."""
    require_team_extra()
    import psycopg
    from psycopg.rows import dict_row

    database = Database(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row) as conn:
            present = {row["attname"] for row in conn.execute(COLUMNS_PRESENT, (TABLE,)).fetchall()}
            if not present:
                return []
            conditions: list[str] = []
            params: dict[str, Any] = {}
            if volume_id is not None:
                conditions.append("volume_id = %(volume_id)s")
                params["volume_id"] = volume_id
            if since is not None:
                conditions.append("time >= %(since)s")
                params["since"] = since
            if endpoint is not None:
                if "endpoint" not in present:  # no row of that schema names its endpoint
                    return []
                conditions.append("pg_catalog.lower(pg_catalog.rtrim(pg_catalog.btrim(endpoint), '/')) = %(endpoint)s")
                params["endpoint"] = endpoint_key(endpoint)
            where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
            columns = ", ".join(c if c in present else f"NULL AS {c}" for c in AUDIT_COLUMNS)
            query = f"SELECT {columns} FROM {TABLE} {where} ORDER BY time, id"  # noqa: S608
            rows = conn.execute(query.encode(), params).fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read the audit trail from {database.display_url}: {database.safe(exc)}") from None
    return [_jsonable(row) for row in rows]


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else value
            for key, value in row.items()}  # fmt: skip

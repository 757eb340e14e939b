"""Team mode keeps blocking as the file trail does: an open attempt blocks until a read settles it or its latest
record is `PENDING_TTL_S` old, however old its intent (a snapshot taken first may hold the intent back from the
resize for more than an hour). Rows are backdated as the table's owner, with the stamping trigger off for that
one transaction (a replica's role cannot do that)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scp_volume_mcp.audit import FileAuditTrail
from scp_volume_mcp.audit.open_attempts import PENDING_TTL_S
from scp_volume_mcp.audit.table_trail import TableAuditTrail
from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings
from scp_volume_mcp.team.database import Database
from scp_volume_mcp.team.schema import TABLE

from ..mcp_helpers import Client, client_factory, text

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # a real PostgreSQL cluster (tests/pg_cluster.py)
HOUR = 3600.0
MINUTE = 60.0


def _row(attempt_id: str, phase: str, age_s: float, *, volume_id: str = EXAMPLE_VOLUME_ID,
         outcome: str | None = None, pending: bool | None = None, target: int = 104) -> dict[str, Any]:  # fmt: skip
    return {"phase": phase, "attempt_id": attempt_id, "tool": "extend_volume", "volume_id": volume_id,
            "previous_size_gb": 100, "requested_size_gb": target, "outcome": outcome, "api_version": "1.3",
            "replica": "replica-a", "resize_pending": pending, "age_s": age_s}  # fmt: skip


def write_backdated(url: str, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` as the owner, each `age_s` older than the database's clock: the stamping trigger is off
    inside this one transaction only (ALTER TABLE takes the table's lock, so no other insert sees it off)."""
    columns = [c for c in rows[0] if c != "age_s"]
    values = ", ".join(f"%({c})s" for c in columns)
    insert = (f"INSERT INTO {TABLE} (time, {', '.join(columns)}) "  # noqa: S608
              f"VALUES (now() - make_interval(secs => %(age_s)s), {values})")  # fmt: skip
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_time".encode())
        for row in rows:
            conn.execute(insert.encode(), row)
        conn.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_time".encode())


def write_file(path: Path, rows: list[dict[str, Any]]) -> None:
    """The same records as lines of a file trail, aged by this host's clock."""
    now = datetime.now(UTC)
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            record = {k: v for k, v in row.items() if k != "age_s"}
            record["time"] = (now - timedelta(seconds=row["age_s"])).isoformat(timespec="milliseconds")
            stream.write(json.dumps(record) + "\n")


HISTORY = [
    # Snapshot first for two hours, then the resize: accepted, not seen yet. Open: its outcome is 10 min old.
    _row("pending-late", "intent", 2 * HOUR),
    _row("pending-late", "outcome", 10 * MINUTE, outcome="accepted", pending=True),
    # The same, its outcome past the hour: no longer blocks (a person decides).
    _row("pending-expired", "intent", 3 * HOUR),
    _row("pending-expired", "outcome", 70 * MINUTE, outcome="accepted", pending=True),
    # Outcome unknown (the process died after its intent): blocks for an hour from the intent.
    _row("unknown-fresh", "intent", 10 * MINUTE, target=112),
    _row("unknown-old", "intent", 2 * HOUR),
    # Settled: by a read's close record, and by a completed outcome.
    _row("closed", "intent", 2 * HOUR),
    _row("closed", "outcome", 10 * MINUTE, outcome="accepted", pending=True),
    _row("closed", "close", 5 * MINUTE, outcome="closed by a read"),
    _row("completed", "intent", 2 * HOUR),
    _row("completed", "outcome", 10 * MINUTE, outcome="completed", pending=False),
    # Another volume's attempt is not this volume's.
    _row("other-volume", "intent", 2 * HOUR, volume_id="v-other"),
    _row("other-volume", "outcome", 10 * MINUTE, volume_id="v-other", outcome="accepted", pending=True),
]


async def test_an_intent_over_an_hour_old_whose_outcome_is_pending_blocks_in_both_trails(
    team_db: str, tmp_path: Path
) -> None:
    write_backdated(team_db, HISTORY)
    log = tmp_path / "audit.jsonl"
    write_file(log, HISTORY)
    database = Database(team_db)
    try:
        from_table = await TableAuditTrail(database).open_attempts(EXAMPLE_VOLUME_ID)
        other = await TableAuditTrail(database).open_attempts("v-other")
    finally:
        await database.aclose()
    from_file = await FileAuditTrail(log).open_attempts(EXAMPLE_VOLUME_ID)
    assert [(a.attempt_id, a.target_gb, a.outcome) for a in from_table] == [
        ("unknown-fresh", 112, None),
        ("pending-late", 104, "accepted"),
    ]
    assert [(a.attempt_id, a.target_gb, a.outcome) for a in from_file] == [
        (a.attempt_id, a.target_gb, a.outcome) for a in from_table
    ]
    pending_late = from_table[1]
    assert pending_late.started_at < pending_late.expires_at - timedelta(seconds=PENDING_TTL_S)  # aged from its outcome
    assert [a.attempt_id for a in other] == ["other-volume"]


async def test_the_server_refuses_while_an_old_intents_pending_outcome_is_unsettled(
    emulator: EmulatorServer, team_db: str
) -> None:
    write_backdated(team_db, HISTORY[:2])  # the volume reads 100 GB: the accepted 104 is not shown yet
    server = build_server(ServerSettings(confirmation="flag", database_url=team_db), client_factory(emulator))
    async with Client(server) as client:
        refused = await client.call_tool("extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 112,
                                                           "confirm": True})  # fmt: skip
    assert refused.is_error, text(refused)
    assert "its outcome was accepted" in text(refused)
    assert emulator.state.requests("PUT") == []

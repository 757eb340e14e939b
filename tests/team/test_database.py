"""Team mode against a real PostgreSQL: the schema migration, the cross-process volume lock, the audit table,
and failing closed when the database is away."""

from __future__ import annotations

import io
from datetime import datetime

import anyio
import psycopg
import pytest

from scp_volume_mcp.audit import AuditError, AuditRecord
from scp_volume_mcp.audit.command import run_audit
from scp_volume_mcp.audit.table_trail import TableAuditTrail
from scp_volume_mcp.settings import ServerSettings, SettingsError
from scp_volume_mcp.team.coordinator import TeamCoordinator
from scp_volume_mcp.team.database import (
    Database,
    DatabaseError,
    LockNotObtained,
    mask_url,
)
from scp_volume_mcp.team.reader import read_rows
from scp_volume_mcp.team.schema import SCHEMA_VERSION, TABLE, migrate

from ..pg_cluster import PASSWORD, terminate_lock_sessions

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # a real PostgreSQL cluster (tests/pg_cluster.py)


def test_mask_url_hides_the_password_only() -> None:
    assert mask_url("postgresql://scp:s3cr%40t@db.internal:5432/ops?sslmode=require") == (
        "postgresql://scp:****@db.internal:5432/ops?sslmode=require"
    )
    assert mask_url("postgresql://db/ops?user=a&password=hunter2") == "postgresql://db/ops?user=a&password=****"
    assert mask_url("postgresql://scp@db/ops") == "postgresql://scp@db/ops"


def test_settings_keep_the_url_out_of_their_repr_and_refuse_other_schemes() -> None:
    settings = ServerSettings.from_env({"SCP_DATABASE_URL": f"postgresql://scp:{PASSWORD}@127.0.0.1/x"})
    assert settings.database_url is not None
    assert PASSWORD not in repr(settings)
    with pytest.raises(SettingsError) as refused:
        ServerSettings.from_env({"SCP_DATABASE_URL": f"mysql://scp:{PASSWORD}@127.0.0.1/x"})
    assert PASSWORD not in str(refused.value)
    assert "****" in str(refused.value)
    with pytest.raises(SettingsError, match="SCP_AUDIT_LOG"):
        ServerSettings.from_env({"SCP_DATABASE_URL": "postgresql://db/x", "SCP_AUDIT_LOG": "/tmp/a"})


async def test_migrate_is_idempotent_concurrent_runs_take_turns_and_replicas_only_check(team_db: str) -> None:
    """`team_db` is migrated once already; four more runs at once change nothing and replicas then start."""
    import threading

    results: list[tuple[int | None, int]] = []
    runs = [threading.Thread(target=lambda: results.append(migrate(team_db))) for _ in range(4)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert results == [(SCHEMA_VERSION, SCHEMA_VERSION)] * 4
    replicas = [Database(team_db, replica=f"r{i}") for i in range(4)]
    try:
        async with anyio.create_task_group() as group:
            for replica in replicas:
                group.start_soon(replica.start)
    finally:
        for replica in replicas:
            await replica.aclose()
    with psycopg.connect(team_db) as conn:
        row = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass", (TABLE,)).fetchone()
    assert row == (3,)  # no UPDATE or DELETE, no TRUNCATE, and the database's own time on every row


async def test_audit_table_is_append_only_and_records_read_back(team_db: str) -> None:
    database = Database(team_db, replica="replica-a")
    trail = TableAuditTrail(database)
    try:
        await trail.check_writable()
        record = AuditRecord(
            phase="outcome", attempt_id="a0", tool="extend_volume", volume_id="v-1", previous_size_gb=100,
            requested_size_gb=104, outcome="completed", api_version="1.3", http_status=202, request_id="req-1",
            client_claimed="test-client\u202e",
        )  # fmt: skip
        await trail.write(record)
    finally:
        await database.aclose()
    [row] = read_rows(team_db)
    assert row["phase"] == "outcome"
    assert (row["volume_id"], row["requested_size_gb"], row["outcome"], row["http_status"]) == (
        "v-1", 104, "completed", 202
    )  # fmt: skip
    assert (row["client_claimed"], row["replica"]) == ("test-client", "replica-a")  # cleaned as in the file
    # The database stamps every row with its own clock (the one the replicas' expiries are measured by).
    assert abs((datetime.fromisoformat(row["time"]) - datetime.fromisoformat(record.time)).total_seconds()) < 5
    with psycopg.connect(team_db, autocommit=True) as conn:
        for statement in (
            "UPDATE scp_volume_audit SET outcome = 'x'",
            "DELETE FROM scp_volume_audit",
            "TRUNCATE scp_volume_audit",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement.encode())
    assert len(read_rows(team_db, volume_id="v-1")) == 1
    assert read_rows(team_db, volume_id="other") == []


async def test_lock_excludes_another_process_and_is_released_after(team_db: str) -> None:
    """Two coordinators on two `Database` objects have separate pools and sessions, as two replicas do."""
    first = TeamCoordinator(Database(team_db, lock_timeout_s=30))
    second = TeamCoordinator(Database(team_db, lock_timeout_s=0.5))
    try:
        async with first.volume_lock("vol-a"):
            with pytest.raises(LockNotObtained, match="vol-a") as refused:
                async with second.volume_lock("vol-a"):
                    pytest.fail("both held the lock of one volume")
            assert "replica" in str(refused.value)
            async with second.volume_lock("vol-b"):  # another volume is not blocked
                pass
        async with second.volume_lock("vol-a"):  # released by the first
            pass
    finally:
        await first.aclose()
        await second.aclose()


async def test_lock_is_released_when_its_connection_drops(team_db: str) -> None:
    holder, waiter = TeamCoordinator(Database(team_db)), TeamCoordinator(Database(team_db, lock_timeout_s=30))
    try:
        async with holder.volume_lock("vol-c"):
            terminated = terminate_lock_sessions(team_db)
            assert terminated == [(True,)]
            async with waiter.volume_lock("vol-c"):  # the dropped session's lock is gone
                pass
    finally:
        await holder.aclose()
        await waiter.aclose()


async def test_intent_and_outcome_records_are_linked_by_attempt(team_db: str) -> None:
    database = Database(team_db)
    trail = TableAuditTrail(database)
    common = {"tool": "extend_volume", "volume_id": "v-2", "previous_size_gb": 100, "requested_size_gb": 112,
              "api_version": "1.3", "client_claimed": "c", "caller": "alice", "snapshot_id": None}  # fmt: skip
    try:
        intent = {"phase": "intent", "outcome": None, "http_status": None, "request_id": None}
        outcome = {"phase": "outcome", "outcome": "accepted", "http_status": 202, "request_id": "r"}
        for when, fields in (("10:00:00", intent), ("10:00:01", outcome)):
            time = f"2026-11-27T{when}.000+00:00"
            await trail.write(AuditRecord(time=time, attempt_id="a1", detail=None, **fields, **common))  # type: ignore[arg-type]
    finally:
        await database.aclose()
    rows = read_rows(team_db, volume_id="v-2")
    assert [(r["phase"], r["attempt_id"], r["outcome"], r["caller"]) for r in rows] == [
        ("intent", "a1", None, "alice"),
        ("outcome", "a1", "accepted", "alice"),
    ]


async def test_unreachable_database_fails_closed_without_the_password(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        port = conn.info.port
    # A port nothing listens on: the cluster's own, with the database stopped is the real case;
    # here one higher than any in use by this cluster.
    dead = database_url.replace(f":{port}/", f":{_closed_port()}/")
    database = Database(dead, lock_timeout_s=1)
    try:
        with pytest.raises(DatabaseError) as refused:
            async with TeamCoordinator(database).volume_lock("vol-d"):
                pytest.fail("locked without a database")
        with pytest.raises(AuditError) as unwritable:
            await TableAuditTrail(database).check_writable()
    finally:
        await database.aclose()
    for message in (str(refused.value), str(unwritable.value), repr(database)):
        assert PASSWORD not in message
    assert "not reachable" in str(refused.value)
    assert "****" in str(refused.value)
    with pytest.raises(DatabaseError) as unreadable:
        read_rows(dead)
    assert PASSWORD not in str(unreadable.value)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_rows_name_their_endpoint_and_audit_shows_one_endpoints(
    team_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, real = "http://127.0.0.1:8080", "https://openapi.samsungsdscloud.com"
    database = Database(team_db, replica="replica-a")
    trail = TableAuditTrail(database)
    common = {"tool": "extend_volume", "volume_id": "v-3", "previous_size_gb": 100, "requested_size_gb": 104,
              "api_version": "1.3", "outcome": None}  # fmt: skip
    try:
        for attempt_id, endpoint in (("a-old", None), ("a-rehearsal", emulator), ("a-real", real)):
            await trail.write(AuditRecord(phase="intent", attempt_id=attempt_id, endpoint=endpoint, **common))  # type: ignore[arg-type]
        [rehearsal] = [a for a in await trail.open_attempts("v-3") if a.attempt_id == "a-rehearsal"]
    finally:
        await database.aclose()
    assert rehearsal.endpoint == emulator  # carried to the close record that settles it
    assert [(r["attempt_id"], r["endpoint"]) for r in read_rows(team_db)] == [
        ("a-old", None), ("a-rehearsal", emulator), ("a-real", real)
    ]  # fmt: skip
    assert [r["attempt_id"] for r in read_rows(team_db, endpoint=f" {emulator.upper()}/ ")] == ["a-rehearsal"]
    assert read_rows(team_db, endpoint="https://elsewhere.example") == []
    monkeypatch.setenv("SCP_DATABASE_URL", team_db)
    monkeypatch.delenv("SCP_AUDIT_LOG", raising=False)
    out, err = io.StringIO(), io.StringIO()
    assert run_audit(volume_id=None, since=None, as_json=False, endpoint=real, out=out, err=err) == 0, err.getvalue()
    [line] = out.getvalue().splitlines()
    assert "a-real" in line
    assert f"endpoint {real}" in line
    out = io.StringIO()
    assert run_audit(volume_id="v-3", since=None, as_json=False, out=out, err=err) == 0
    assert "endpoint unknown" in out.getvalue().splitlines()[0]

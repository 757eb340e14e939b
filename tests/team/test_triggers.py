"""The stamping triggers cannot be shadowed (schema version 4): on a database where PUBLIC may CREATE, a
replica's role that puts its own `clock_timestamp()` first on its search_path backdated its rows under version
3, and cannot once `db migrate` has run; `db migrate` warns while such a role may still create."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from scp_volume_mcp.team.commands import run_migrate
from scp_volume_mcp.team.reader import read_rows
from scp_volume_mcp.team.schema import SCHEMA_VERSION, migrate

from .test_durable import REPLICA_GRANTS

pytestmark = pytest.mark.slow  # a real PostgreSQL cluster (tests/pg_cluster.py)
V3 = Path(__file__).parents[1].joinpath("data").joinpath("team-schema-v3.sql")
LONG_AGO = "2001-01-01 00:00:00+00"
SHADOW = f"""
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT timestamptz '{LONG_AGO}' $$;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT timestamptz '{LONG_AGO}' $$;
"""
TRIGGER_FUNCTIONS = ("scp_volume_audit_stamp", "scp_volume_audit_append_only", "scp_volume_append_only")


@pytest.fixture
def v3_db(database_url: str) -> Iterator[str]:
    """A fresh database at schema version 3, as `db migrate` left it before version 4, where PUBLIC may CREATE
    in schema public (PostgreSQL 14's default, or a GRANT)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(V3.read_text().encode())
        owner.execute(b"GRANT CREATE ON SCHEMA public TO PUBLIC")
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)".encode())


@pytest.fixture
def replica_url(v3_db: str) -> Iterator[str]:
    """A replica's role on `v3_db` with the README's GRANTs (insert and read), which shadows the clock in
    schema public: the URL it connects with."""
    role, password = f"replica_{os.getpid()}_{time.monotonic_ns() % 10**6}", "replica-pw-0123"
    database = urlsplit(v3_db).path.lstrip("/")
    with psycopg.connect(v3_db, autocommit=True) as owner:
        for statement in REPLICA_GRANTS.format(role=role, password=password, database=database).split(";"):
            if statement.strip():
                owner.execute(statement.encode())
    parts = urlsplit(v3_db)
    url = urlunsplit((parts.scheme, f"{role}:{password}@{parts.hostname}:{parts.port}", parts.path, "", ""))
    try:
        with psycopg.connect(url, autocommit=True) as replica:
            replica.execute(SHADOW.encode())
        yield url
    finally:
        with psycopg.connect(v3_db, autocommit=True) as owner:
            owner.execute(f"DROP OWNED BY {role}".encode())
            owner.execute(f"DROP ROLE {role}".encode())


def _insert_as_replica(url: str, attempt_id: str) -> tuple[datetime, datetime, datetime]:
    """As the replica, with its own functions first on its search_path: insert an intent and an approval
    request, each claiming to be from 2001. (the audit row's time, the request's time, the real clock)"""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"SET search_path = public, pg_catalog")
        assert conn.execute(b"SELECT clock_timestamp() < timestamptz '2002-01-01'").fetchone() == (True,)  # shadowed
        conn.execute(
            "INSERT INTO scp_volume_audit (time, phase, attempt_id, tool, volume_id, requested_size_gb, replica) "
            "VALUES (%s, 'intent', %s, 'extend_volume', 'v', 104, 'r')",
            (LONG_AGO, attempt_id),
        )
        [(audit_time,)] = conn.execute(b"SELECT time FROM scp_volume_audit WHERE attempt_id = %s", (attempt_id,))
        conn.execute(
            "INSERT INTO scp_volume_approval_request (request_id, time, ttl_s, volume_id, previous_size_gb, "
            "requested_size_gb, snapshot_first, rule, requester, replica) "
            "VALUES (%s, %s, 600, 'v', 100, 104, false, 'rule', 'alice', 'r')",
            (attempt_id, LONG_AGO),
        )
        [(request_time,)] = conn.execute(
            b"SELECT time FROM scp_volume_approval_request WHERE request_id = %s", (attempt_id,)
        )
        [(real,)] = conn.execute(b"SELECT pg_catalog.clock_timestamp()")
    return audit_time, request_time, real


def test_a_replica_that_shadows_the_clock_backdated_rows_at_v3_and_cannot_once_migrated(
    v3_db: str, replica_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_time, request_time, _ = _insert_as_replica(replica_url, "before")
    assert (audit_time.year, request_time.year) == (2001, 2001)  # what version 3 allowed

    monkeypatch.setenv("SCP_DATABASE_URL", v3_db)
    out, err = io.StringIO(), io.StringIO()
    assert run_migrate(out=out, err=err) == 0
    assert f"schema version 3 -> {SCHEMA_VERSION}" in out.getvalue()
    assert "scp-volume-mcp: warning: PUBLIC may CREATE in schema public" in err.getvalue()
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC;" in err.getvalue()

    audit_time, request_time, real = _insert_as_replica(replica_url, "after")
    for stamped in (audit_time, request_time):
        assert abs((real - stamped).total_seconds()) < 60, stamped  # the database's own clock, not 2001
    with psycopg.connect(v3_db) as owner:
        query = "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s) ORDER BY proname"
        configs = owner.execute(query, (list(TRIGGER_FUNCTIONS),)).fetchall()
    assert configs == [(name, ["search_path=pg_catalog, pg_temp"]) for name in sorted(TRIGGER_FUNCTIONS)]


def test_db_migrate_warns_until_no_replica_role_may_create(
    v3_db: str, replica_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert migrate(v3_db) == (3, SCHEMA_VERSION)
    role = urlsplit(replica_url).username
    monkeypatch.setenv("SCP_DATABASE_URL", v3_db)

    def warnings() -> list[str]:
        err = io.StringIO()
        assert run_migrate(out=io.StringIO(), err=err) == 0
        return err.getvalue().splitlines()

    assert [w.split(",")[0] for w in warnings()] == ["scp-volume-mcp: warning: PUBLIC may CREATE in schema public"]
    with psycopg.connect(v3_db, autocommit=True) as owner:
        owner.execute(b"REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        owner.execute(f"GRANT CREATE ON SCHEMA public TO {role}".encode())
    [warning] = warnings()
    assert f"role {role}, which may insert audit records, may CREATE in schema public" in warning
    assert f"REVOKE CREATE ON SCHEMA public FROM {role};" in warning
    with psycopg.connect(v3_db, autocommit=True) as owner:
        owner.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}".encode())
    assert warnings() == []


def test_audit_reads_a_v3_table_before_the_migration_its_endpoints_unknown(v3_db: str) -> None:
    with psycopg.connect(v3_db, autocommit=True) as owner:
        owner.execute(
            b"INSERT INTO scp_volume_audit (time, phase, attempt_id, tool, volume_id, requested_size_gb, replica) "
            b"VALUES (now(), 'intent', 'a-v3', 'extend_volume', 'v', 104, 'old')"
        )
    [row] = read_rows(v3_db)
    assert (row["attempt_id"], row["endpoint"]) == ("a-v3", None)
    assert read_rows(v3_db, endpoint="https://openapi.example.com") == []
    assert migrate(v3_db) == (3, SCHEMA_VERSION)
    [row] = read_rows(v3_db)
    assert (row["attempt_id"], row["endpoint"]) == ("a-v3", None)

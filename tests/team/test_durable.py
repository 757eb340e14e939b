"""Team mode's durable safety on a real PostgreSQL: a replica killed mid-PUT leaves an open attempt that blocks
the other replicas; a lock whose session is gone sends nothing; the schema is made by `db migrate` as the
owner, and replicas run as a role that can only insert and read."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings
from scp_volume_mcp.team.schema import SCHEMA_VERSION, migrate
from startup_wait import wait_listening

from ..mcp_helpers import client_factory, text
from ..mcp_server.test_transports import free_port, scp_env
from ..pg_cluster import terminate_lock_sessions

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ARGS = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}
REPLICA_GRANTS = """
CREATE ROLE {role} LOGIN PASSWORD '{password}';
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT ON scp_volume_audit TO {role};
GRANT SELECT ON scp_volume_schema TO {role};
GRANT SELECT, INSERT ON scp_volume_approval_request, scp_volume_approval_decision TO {role};
"""


@contextlib.contextmanager
def replica(emulator: EmulatorServer, database_url: str, name: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`serve --transport http` as one replica of the team: (its MCP URL, its process)."""
    port = free_port()
    env = {**os.environ, **scp_env(emulator, SCP_CONFIRMATION="flag"), "SCP_DATABASE_URL": database_url,
           "SCP_REPLICA_NAME": name}  # fmt: skip
    env.pop("SCP_AUDIT_LOG", None)
    command = [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port), "--no-auth"]
    with tempfile.TemporaryFile("w+") as printed:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=printed, text=True)

        def said() -> str:
            printed.seek(0)
            return printed.read()

        try:
            wait_listening(port, process, said, what=f"the replica {name}")
            yield f"http://127.0.0.1:{port}/mcp", process
        finally:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=10)


async def test_a_replica_killed_mid_put_leaves_an_attempt_that_blocks_the_others(
    emulator: EmulatorServer, team_db: str
) -> None:
    emulator.state.settings.attached_stays_in_use = True
    emulator.state.settings.extend_seconds = 60.0
    emulator.state.add_fault(Fault("extend", latency_s=1.5))  # slow, and applied behind the delay
    with (
        replica(emulator, team_db, "replica-a") as (url_a, process_a),
        replica(emulator, team_db, "replica-b") as (
            url_b,
            _,
        ),
    ):
        with anyio.move_on_after(30):
            try:
                async with Client(url_a) as client, anyio.create_task_group() as tg:

                    async def call() -> None:
                        with contextlib.suppress(Exception):  # the replica dies under the call
                            await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})

                    tg.start_soon(call)
                    # The intent is committed just before the PUT leaves: then the request in flight is the PUT.
                    while emulator.state.journal.in_flight == 0 or not _has_intent(team_db):  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                    process_a.send_signal(signal.SIGKILL)
                    tg.cancel_scope.cancel()
            except* httpx2.TransportError:
                pass  # the client's own request task may see the replica die before the cancel reaches it
        assert emulator.state.journal.wait_idle()
        async with Client(url_b) as client:
            same = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
            larger = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 112})
    assert not same.is_error, text(same)  # the size under way again: said, not an error
    assert same.structured_content is not None
    assert same.structured_content["outcome"] == "under_way"
    assert same.structured_content["request_sent"] is False
    assert larger.is_error, text(larger)
    for refused in (same, larger):
        assert "by replica-a" in text(refused)
        assert "its outcome is unknown" in text(refused)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_a_lock_whose_session_was_terminated_sends_nothing(emulator: EmulatorServer, team_db: str) -> None:
    emulator.state.settings.snapshot_seconds = 2.0  # the lock is held across the snapshot
    server = build_server(ServerSettings(confirmation="flag", database_url=team_db), client_factory(emulator))
    async with Client(server) as client, anyio.create_task_group() as tg:
        results = []

        async def call() -> None:
            results.append(
                await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104, "snapshot_first": True})
            )

        tg.start_soon(call)
        while not emulator.state.requests("POST"):  # noqa: ASYNC110 - the emulator runs on its own thread
            await anyio.sleep(0.02)
        terminated = terminate_lock_sessions(team_db)
        assert terminated == [(True,)]
    [result] = results
    assert result.is_error
    assert "lock of volume" in text(result)
    assert "was lost before the resize was sent" in text(result)
    assert emulator.state.requests("PUT") == []


def _has_intent(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM scp_volume_audit WHERE phase = 'intent'").fetchone() != (0,)


def _as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{role}:{password}@{parts.hostname}:{parts.port}", parts.path, "", ""))


async def test_a_replica_role_with_insert_and_select_runs_the_team_and_cannot_rewrite_history(
    emulator: EmulatorServer, team_db: str
) -> None:
    role, password = f"replica_{os.getpid()}_{time.monotonic_ns() % 10**6}", "replica-pw-0123"
    database = urlsplit(team_db).path.lstrip("/")
    with psycopg.connect(team_db, autocommit=True) as owner:
        for statement in REPLICA_GRANTS.format(role=role, password=password, database=database).split(";"):
            if statement.strip():
                owner.execute(statement.encode())
    as_replica = _as_role(team_db, role, password)
    server = build_server(ServerSettings(confirmation="flag", database_url=as_replica), client_factory(emulator))
    async with Client(server) as client:
        grown = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
    assert not grown.is_error, text(grown)
    with psycopg.connect(as_replica, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM scp_volume_audit").fetchone() == (2,)
        for statement in (
            "UPDATE scp_volume_audit SET outcome = 'completed'",
            "DELETE FROM scp_volume_audit",
            "TRUNCATE scp_volume_audit",
            "ALTER TABLE scp_volume_audit DISABLE TRIGGER USER",
            "DROP TABLE scp_volume_audit",
            "CREATE TABLE scp_volume_other (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement.encode())
    with psycopg.connect(team_db, autocommit=True) as owner:
        owner.execute(f"DROP OWNED BY {role}".encode())
        owner.execute(f"DROP ROLE {role}".encode())


async def test_a_replica_refuses_to_extend_until_the_schema_is_migrated(
    emulator: EmulatorServer, database_url: str
) -> None:
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url, autocommit=True) as conn:  # the layout before `db migrate` (version 1)
            conn.execute(Path(__file__).parents[1].joinpath("data").joinpath("team-schema-v1.sql").read_text().encode())
            conn.execute(
                "INSERT INTO scp_volume_audit (time, phase, attempt_id, tool, volume_id, requested_size_gb, replica) "
                "VALUES (now(), 'intent', 'a-old', 'extend_volume', 'v', 104, 'old')"
            )
        server = build_server(ServerSettings(confirmation="flag", database_url=url), client_factory(emulator))
        async with Client(server) as client:
            refused = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
            listed = await client.call_tool("list_volumes", {})
        assert refused.is_error
        assert "schema version 1" in text(refused)
        assert "scp-volume-mcp db migrate" in text(refused)
        assert not listed.is_error  # lookups never need the database
        assert emulator.state.requests("PUT") == []
        assert migrate(url) == (1, SCHEMA_VERSION)
        assert migrate(url) == (SCHEMA_VERSION, SCHEMA_VERSION)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('scp_volume_pending')").fetchone() == (None,)
            assert conn.execute("SELECT attempt_id FROM scp_volume_audit").fetchall() == [("a-old",)]
        server = build_server(ServerSettings(confirmation="flag", database_url=url), client_factory(emulator))
        async with Client(server) as client:
            grown = await client.call_tool("extend_volume", {**ARGS, "new_size_gb": 104})
        assert not grown.is_error, text(grown)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)".encode())


def test_db_migrate_from_the_command_line(team_db: str) -> None:
    env = {**os.environ, "SCP_DATABASE_URL": team_db}
    done = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "db", "migrate"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"schema version {SCHEMA_VERSION}, already current" in done.stdout
    assert "****" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "db", "migrate"],
                             env={k: v for k, v in env.items() if k != "SCP_DATABASE_URL"}, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2
    assert "SCP_DATABASE_URL" in missing.stderr

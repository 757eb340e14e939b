"""Several replicas on one PostgreSQL: real `scp-volume-mcp serve` processes, a real database, the emulator
resizing slowly. Two processes never both send a resize for one volume, and `scp-volume-mcp audit` reads
every replica's records from the one trail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import connect, text
from ..mcp_server.test_transports import http_server
from ..pg_cluster import PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
VOLUMES = {
    EXAMPLE_VOLUME_ID: 104,
    "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01": 72,
    "9c3e5d7f-2b4a-4c6e-8f10-3a5b7c9d1e02": 208,
}


def audit_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCP_DATABASE_URL": database_url}
    env.pop("SCP_AUDIT_LOG", None)
    return subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", "audit", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_two_processes_on_one_database_never_both_resize_a_volume(emulator: EmulatorServer, team_db: str) -> None:
    # Every resize takes a while to answer (the lock is held across it) and the volume then stays extending.
    emulator.state.settings.extend_seconds = 1.0
    emulator.state.add_fault(Fault("extend", latency_s=1.5, count=100))
    results: dict[str, list[Any]] = {volume: [] for volume in VOLUMES}
    output: list[str] = []
    with (
        http_server(emulator, output=output, SCP_DATABASE_URL=team_db, SCP_REPLICA_NAME="replica-a") as url_a,
        http_server(emulator, output=output, SCP_DATABASE_URL=team_db, SCP_REPLICA_NAME="replica-b") as url_b,
    ):

        async def extend(url: str, volume: str, size: int) -> None:
            async with Client(url) as client:
                arguments = {"volume_id": volume, "new_size_gb": size, "confirm": True}
                results[volume].append(await client.call_tool("extend_volume", arguments))

        async with anyio.create_task_group() as group:
            for volume, size in VOLUMES.items():
                for url in (url_a, url_b, url_a, url_b):
                    group.start_soon(extend, url, volume, size)

    for volume, size in VOLUMES.items():
        puts = [p for p in emulator.state.requests("PUT") if volume in p.path]
        assert [p.body for p in puts] == [{"size": size}], f"{volume}: {len(puts)} resizes sent"
        sent = [r for r in results[volume] if r.structured_content and r.structured_content["request_sent"]]
        assert len(sent) == 1
        for other in results[volume]:
            if other is not sent[0]:  # under the lock: the same size under way, or already there (unchanged)
                outcome = other.structured_content["outcome"] if other.structured_content else None
                assert not other.is_error, text(other)
                assert outcome in ("under_way", "unchanged"), text(other)
    assert PASSWORD not in "".join(output)

    # One trail for both processes, readable from either machine.
    listed = audit_command(team_db, "--json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 4 * len(VOLUMES)  # one per attempt: every call's outcome, none unknown
    assert {r["replica"] for r in records} == {"replica-a", "replica-b"}
    assert all(r["phase"] == "outcome" for r in records)
    sent_records = [r for r in records if r["http_status"] == 202]
    assert sorted(r["volume_id"] for r in sent_records) == sorted(VOLUMES)
    one = audit_command(team_db, "--volume", EXAMPLE_VOLUME_ID)
    assert one.returncode == 0, one.stderr
    assert len(one.stdout.splitlines()) == 4
    assert PASSWORD not in one.stdout + one.stderr
    assert "****" in one.stderr
    with psycopg.connect(team_db) as conn:  # the resize's intent went before it, in the same table
        intents = conn.execute("SELECT volume_id FROM scp_volume_audit WHERE phase = 'intent'").fetchall()
    assert sorted(v for (v,) in intents) == sorted(VOLUMES)


async def test_extension_refused_but_lookups_work_without_the_database(
    emulator: EmulatorServer, database_url: str
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"postgresql://scp:{PASSWORD}@127.0.0.1:{port}/postgres"
    settings = ServerSettings(confirmation="flag", database_url=dead, lock_timeout_s=1, poll_interval_s=0.05)
    async with connect(emulator, settings=settings) as session:
        found = await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        assert not found.is_error
        arguments = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
        refused = await session.call("extend_volume", arguments)
    assert refused.is_error
    assert "Nothing was sent" in text(refused)
    assert "not reachable" in text(refused)
    assert PASSWORD not in text(refused)
    assert emulator.state.requests("PUT") == []


@pytest.mark.anyio
async def test_a_resize_one_replica_sent_blocks_the_others_until_it_shows(
    emulator: EmulatorServer, team_db: str
) -> None:
    """An attached volume may stay in-use at its old size while it grows: the lock alone cannot tell the
    second replica; the database's record of the accepted resize does."""
    from mcp import Client

    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    from ..mcp_helpers import client_factory, text

    emulator.state.settings.extend_seconds = 5.0
    emulator.state.settings.attached_stays_in_use = True
    settings = ServerSettings(confirmation="flag", database_url=team_db)
    args = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}
    async with (
        Client(build_server(settings, client_factory(emulator))) as replica_a,
        Client(build_server(settings, client_factory(emulator))) as replica_b,
    ):
        first = await replica_a.call_tool("extend_volume", {**args, "new_size_gb": 104})
        second = await replica_b.call_tool("extend_volume", {**args, "new_size_gb": 200})
    assert first.structured_content is not None
    assert first.structured_content["outcome"] == "accepted"
    assert second.is_error
    assert "already in progress" in text(second)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


@pytest.mark.anyio
async def test_a_sent_resize_is_reported_as_sent_when_recording_its_outcome_fails(
    emulator: EmulatorServer, team_db: str
) -> None:
    """The outcome row cannot be written after the PUT (the database went away): the result still says the
    resize was sent, and its intent row, committed before the PUT, keeps the volume blocked."""
    from mcp import Client

    from scp_volume_mcp.audit import AuditError, AuditRecord
    from scp_volume_mcp.audit.table_trail import TableAuditTrail
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    from ..mcp_helpers import client_factory, text

    emulator.state.settings.extend_seconds = 5.0
    emulator.state.settings.attached_stays_in_use = True
    server = build_server(ServerSettings(confirmation="flag", database_url=team_db), client_factory(emulator))
    trail = server.app_state.audit
    assert isinstance(trail, TableAuditTrail)
    write = trail.write

    async def outcomes_fail(record: AuditRecord) -> None:
        if record.phase == "outcome":
            raise AuditError("cannot write the audit trail: the database went away")
        await write(record)

    trail.write = outcomes_fail  # type: ignore[method-assign]
    args = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}
    async with Client(server) as client:
        first = await client.call_tool("extend_volume", {**args, "new_size_gb": 104})
        second = await client.call_tool("extend_volume", {**args, "new_size_gb": 200})
    assert not first.is_error, text(first)
    assert first.structured_content is not None
    assert first.structured_content["request_sent"] is True
    assert second.is_error  # the committed intent (and this replica's memory) block it
    assert "already in progress" in text(second)
    assert "its outcome is unknown" in text(second)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]

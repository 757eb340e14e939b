"""Shared fixtures: a real emulator on a loopback port and SCP clients pointed at it."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from scp_volume_mcp.emulator import (
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    EmulatorServer,
    EmulatorSettings,
    EmulatorState,
)
from scp_volume_mcp.scp import ScpClient, ScpConfig, load_config

# The default audit trail (no SCP_AUDIT_LOG) lives in the user's state folder: for this run, and the servers it
# starts, a throwaway one.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="scp-volume-mcp-state-")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(_emulator_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session's emulator, back to its seeded volumes and default settings for each test."""
    state: EmulatorState = _emulator_server.state
    state.settings = EmulatorSettings()
    state.reset()
    yield _emulator_server
    assert state.journal.wait_idle(), "the emulator was still serving a request after the test"
    state.settings = EmulatorSettings()
    state.reset()


@pytest.fixture
def scp_config(emulator: EmulatorServer) -> ScpConfig:
    return load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=emulator.url, env={})


@pytest.fixture
async def scp(scp_config: ScpConfig) -> AsyncIterator[ScpClient]:
    async with ScpClient(scp_config, backoff_s=0.001) as client:
        yield client


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster's URL (see tests/pg_cluster.py). Without PostgreSQL the team tests
    are skipped, saying why, except in CI (CI=true), where that is a failure."""
    from .pg_cluster import PostgresUnavailable, postgres_cluster

    try:
        cluster = postgres_cluster()
        url = cluster.__enter__()
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture
def team_db(database_url: str) -> Iterator[str]:
    """A fresh database of the session's cluster for one test, with the schema migrated (the audit table is
    append-only)."""
    import psycopg

    from .pg_cluster import fresh_database

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = fresh_database(database_url, name)  # migrated, as `scp-volume-mcp db migrate` does, as the owner
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)".encode())

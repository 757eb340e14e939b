"""Shared fixtures: a real emulator on a loopback port and SCP clients pointed at it."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
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
from startup_wait import budget

from .mcp_helpers import shared_tls_transport

# The default audit trail (no SCP_AUDIT_LOG) lives in the user's state folder: for this run, and the servers it
# starts, a throwaway one (one per pytest-xdist worker, as each imports this file).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="scp-volume-mcp-state-")
atexit.register(shutil.rmtree, os.environ["XDG_STATE_HOME"], True)

LONGEST_FIRST = (
    "test_bench.py",
    "test_chaos.py",
    "test_consent_matrix.py",
    "test_packaging.py",
    "test_approvals.py",
    "test_bundle.py",
    "test_graceful_stop.py",
    "test_durable_intents.py",
)
"""The test files that took longest (30 s to 2 min each with `tools/check` on 2 cores): under pytest-xdist they
start first, so that none of them is left running alone at the end. Order only; a file missing here just
starts in its turn."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker, the files of `LONGEST_FIRST` first (with `--no-loadscope-reorder`, see
    pyproject.toml, the workers are handed files in this order). A run in one process keeps the usual order."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole and in order


@pytest.fixture(autouse=True)
def _own_pool_log_window() -> None:
    """psycopg's pool warnings pass once per 60 s per process (team/database.py's OncePerWindow filter, installed
    once): each test gets a window of its own, whatever ran before it in this process. Otherwise a test that
    counts the warning fails after another that met a database that is down (seen with pytest-xdist, where a
    worker runs files in another order)."""
    from scp_volume_mcp.team.database import OncePerWindow

    pool_log = logging.getLogger("psycopg.pool")
    for used in [f for f in pool_log.filters if isinstance(f, OncePerWindow)]:
        pool_log.removeFilter(used)  # the next pool installs a fresh one


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[EmulatorServer]:
    server = EmulatorServer().start(timeout_s=budget(10))  # a thread of this process; its limit grows with the load
    try:
        yield server
    finally:
        server.stop()


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
    async with ScpClient(scp_config, backoff_s=0.001, transport=shared_tls_transport()) as client:
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


@pytest.fixture(scope="session")
def _team_template(database_url: str) -> Iterator[str]:
    """A database of the session's cluster migrated once, as `scp-volume-mcp db migrate` does, as the owner:
    each test's database is a copy of it."""
    from .pg_cluster import drop_database, migrated_template

    name = migrated_template(database_url)
    try:
        yield name
    finally:
        drop_database(database_url, name)


@pytest.fixture
def team_db(database_url: str, _team_template: str) -> Iterator[str]:
    """A fresh database of the session's cluster for one test, with the schema migrated (the audit table is
    append-only): a copy of the session's migrated template."""
    from .pg_cluster import drop_database, fresh_database

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = fresh_database(database_url, name, template=_team_template)
    yield url
    drop_database(database_url, name)

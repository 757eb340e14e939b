"""Shared fixtures: a real emulator on a loopback port and SCP clients pointed at it."""

from __future__ import annotations

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
    assert state.wait_idle(), "the emulator was still serving a request after the test"
    state.settings = EmulatorSettings()
    state.reset()


@pytest.fixture
def scp_config(emulator: EmulatorServer) -> ScpConfig:
    return load_config(access_key=EMULATOR_ACCESS_KEY, secret_key=EMULATOR_SECRET_KEY, endpoint=emulator.url, env={})


@pytest.fixture
async def scp(scp_config: ScpConfig) -> AsyncIterator[ScpClient]:
    async with ScpClient(scp_config, backoff_s=0.001) as client:
        yield client

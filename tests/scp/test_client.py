"""The SCP client against the emulator over real loopback HTTP."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import date

import pytest

from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import (
    EXAMPLE_VOLUME_ID,
    ScpBadRequest,
    ScpClient,
    ScpConfig,
    ScpConflict,
    ScpForbidden,
    ScpHttpError,
    ScpInputError,
    ScpNotFound,
    ScpRateLimited,
    ScpResponseError,
    ScpServerError,
    ScpTimeoutError,
    ScpTransportError,
    ScpUnauthorized,
    VolumeShowResponse,
    VolumeShowResponseV1Dot2,
)

from ..mcp_helpers import connect, text

pytestmark = pytest.mark.anyio
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def test_show_volume(scp: ScpClient, emulator: EmulatorServer) -> None:
    volume = await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert isinstance(volume, VolumeShowResponseV1Dot2)
    assert (volume.name, volume.size, volume.volume_type, volume.max_iops) == ("volume01", 100, "SSD", 10000)
    assert volume.servers[0].device == "/dev/vda"
    [entry] = emulator.state.journal
    assert entry.signature_valid
    assert entry.version_header == "virtualserver 1.3"


async def test_list_volumes_follows_every_page(scp: ScpClient, emulator: EmulatorServer) -> None:
    volumes = await scp.list_volumes(page_size=2)
    assert len(volumes) == len(emulator.state.all()) == 7
    assert len({v.id for v in volumes}) == 7
    queries = [e.query for e in emulator.state.requests("GET", "list")]
    assert queries[0] == "limit=2"
    assert all("marker=" in q for q in queries[1:])
    assert len(queries) == 4  # 2 + 2 + 2 + 1


async def test_list_volumes_filters_and_caps(scp: ScpClient) -> None:
    assert [v.name for v in await scp.list_volumes(name="volume01")] == ["volume01"]
    assert {v.state for v in await scp.list_volumes(state="available")} == {"available"}
    assert len(await scp.list_volumes(page_size=2, max_items=3)) == 3


async def test_a_huge_name_filter_is_a_clear_error(emulator: EmulatorServer, scp: ScpClient) -> None:
    async with connect(emulator) as session:
        result = await session.client.call_tool("list_volumes", {"name": "n" * 200_000})
    assert result.is_error
    assert len(text(result)) < 2_000
    with pytest.raises(ScpInputError, match="too long or invalid"):
        await scp.list_volumes(name="n" * 200_000)


async def test_extend_volume(scp: ScpClient, emulator: EmulatorServer) -> None:
    volume, status, request_id = await scp.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert volume.size == 104
    [put] = emulator.state.requests("PUT")
    assert (status, request_id) == (put.status, put.request_id)
    assert put.body == {"size": 104}
    assert put.status == 202
    assert put.path == f"/v1/volumes/{EXAMPLE_VOLUME_ID}/size"


async def test_quota_set(scp: ScpClient) -> None:
    quota = await scp.show_volume_quota_set()
    assert quota.per_volume_size is not None
    assert quota.per_volume_size.limit == 12288


async def test_old_response_shape_with_version_1_1(scp_config: ScpConfig, emulator: EmulatorServer) -> None:
    config = replace(scp_config, api_version="1.1")
    async with ScpClient(config, today=date(2026, 1, 15)) as client:
        volume = await client.show_volume(EXAMPLE_VOLUME_ID)
        extended = (await client.resize_volume(EXAMPLE_VOLUME_ID, 112)).volume
    assert type(volume) is VolumeShowResponse
    assert not hasattr(volume, "max_iops")
    assert extended.size == 112
    assert {e.version_header for e in emulator.state.journal} == {"virtualserver 1.1"}


async def test_unknown_volume_is_not_found(scp: ScpClient) -> None:
    with pytest.raises(ScpNotFound) as info:
        await scp.show_volume(UNKNOWN_ID)
    assert UNKNOWN_ID in info.value.detail
    assert info.value.request_id


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, ScpBadRequest),
        (401, ScpUnauthorized),
        (403, ScpForbidden),
        (404, ScpNotFound),
        (409, ScpConflict),
        (429, ScpRateLimited),
        (500, ScpServerError),
        (503, ScpServerError),
    ],
)
async def test_every_error_status_is_typed(
    scp: ScpClient, emulator: EmulatorServer, status: int, error_type: type[ScpHttpError]
) -> None:
    emulator.state.add_fault(Fault("extend", status=status))
    with pytest.raises(error_type) as info:
        await scp.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert info.value.status == status
    assert info.value.detail == f"Injected fault: status {status}"
    assert info.value.request_id == emulator.state.journal[-1].request_id
    assert len(emulator.state.requests("PUT")) == 1  # a write is never retried


async def test_reads_retry_throttling_and_gateway_errors(scp: ScpClient, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("show", status=503, count=2))
    volume = await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert volume.size == 100
    assert [e.status for e in emulator.state.journal] == [503, 503, 200]


async def test_reads_give_up_after_the_last_attempt(scp: ScpClient, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("show", status=429, count=10, retry_after=0))
    with pytest.raises(ScpRateLimited) as info:
        await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert info.value.retry_after == 0
    assert len(emulator.state.journal) == 4


async def test_reads_do_not_retry_client_errors(scp: ScpClient, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("show", status=500))
    with pytest.raises(ScpServerError):
        await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert len(emulator.state.journal) == 1


async def test_timeout(scp_config: ScpConfig, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("extend", latency_s=1.0))
    async with ScpClient(replace(scp_config, timeout_s=0.2)) as client:
        with pytest.raises(ScpTimeoutError) as info:
            await client.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert info.value.sent is True


async def test_dropped_connection(scp: ScpClient, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("extend", drop=True))
    with pytest.raises(ScpTransportError) as info:
        await scp.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert info.value.sent is True
    assert not isinstance(info.value, ScpTimeoutError)


async def test_connection_refused_is_a_transport_error_that_sent_nothing(scp_config: ScpConfig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ScpClient(replace(scp_config, endpoint=f"http://127.0.0.1:{port}"), backoff_s=0.001) as client:
        with pytest.raises(ScpTransportError) as info:
            await client.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert info.value.sent is False
    assert "could not be reached" in str(info.value)


async def test_malformed_and_unexpected_bodies(scp: ScpClient, emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("show", malformed=True))
    with pytest.raises(ScpResponseError, match="not JSON"):
        await scp.show_volume(EXAMPLE_VOLUME_ID)
    emulator.state.add_fault(Fault("extend", body={"accepted": True}))
    with pytest.raises(ScpResponseError, match="not a VolumeShowResponseV1Dot2") as info:
        await scp.resize_volume(EXAMPLE_VOLUME_ID, 104)
    assert info.value.status == 202


async def test_wrong_secret_gets_unauthorized(scp_config: ScpConfig) -> None:
    from pydantic import SecretStr

    async with ScpClient(replace(scp_config, secret_key=SecretStr("wrong"))) as client:
        with pytest.raises(ScpUnauthorized, match="Signature does not match") as info:
            await client.show_volume(EXAMPLE_VOLUME_ID)
    assert "wrong" not in str(info.value)
    assert "clock" in info.value.hint


@pytest.mark.parametrize(
    "volume_id", ["../quota-sets", "3f500f00-ed80-4566-a057-e31760226f9a/size", " " + EXAMPLE_VOLUME_ID, ""]
)
async def test_bad_volume_ids_are_refused_before_any_request(
    scp: ScpClient, emulator: EmulatorServer, volume_id: str
) -> None:
    with pytest.raises(ScpInputError):
        await scp.show_volume(volume_id)
    with pytest.raises(ScpInputError):
        await scp.resize_volume(volume_id, 104)
    assert emulator.state.journal.entries() == []


@pytest.mark.parametrize("size", [0, 7, 12, 100.0, True, "104"])
async def test_invalid_sizes_are_refused_before_any_request(
    scp: ScpClient, emulator: EmulatorServer, size: object
) -> None:
    with pytest.raises(ScpInputError):
        await scp.resize_volume(EXAMPLE_VOLUME_ID, size)  # type: ignore[arg-type]
    assert emulator.state.journal.entries() == []


async def test_one_connection_is_kept_alive(scp: ScpClient, emulator: EmulatorServer) -> None:
    for _ in range(3):
        await scp.show_volume(EXAMPLE_VOLUME_ID)
    assert len({e.peer for e in emulator.state.journal}) == 1

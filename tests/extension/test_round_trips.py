"""Reads side by side, a wait that fits the platform, and lists at an account's scale. Requests are counted and
their overlap judged by the emulator's journal under an injected latency; timing targets live in the benchmark
(tools/bench.py --only latency), not here."""

from __future__ import annotations

import pytest

from scp_volume_mcp.emulator import EmulatorServer, EmulatorState, JournalEntry, generated_volumes
from scp_volume_mcp.extension.waiting import PollSchedule
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import connect

pytestmark = pytest.mark.anyio

LATENCY_S = 0.15
AVAILABLE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"
IN_USE = "9c3e5d7f-2b4a-4c6e-8f10-3a5b7c9d1e02"


def steps(entries: list[JournalEntry]) -> list[list[str]]:
    """The requests grouped as the emulator answered them: one group per round trip (a request answered within
    half a round trip of its group's first went beside it). Each entry as `METHOD route`."""
    groups: list[list[str]] = []
    start = None
    for entry in sorted(entries, key=lambda e: e.time):
        if start is None or entry.time - start > LATENCY_S / 2:
            groups.append([])
            start = entry.time
        groups[-1].append(f"{entry.method} {entry.route}")
    return [sorted(group) for group in groups]


async def test_the_plan_reads_volume_quota_and_snapshots_side_by_side_once_each(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})  # the connection open
        emulator.state.settings.latency_s = LATENCY_S
        emulator.state.journal.clear()
        result = await session.call("plan_volume_extension", {"volume_id": AVAILABLE, "new_size_gb": 72})
    assert not result.is_error
    assert steps(list(emulator.state.journal)) == [["GET quota", "GET show", "GET snapshots"]]


async def test_an_extension_reads_volume_and_uncached_quota_together_then_sends(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=ServerSettings(confirmation="flag")) as session:
        await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        emulator.state.settings.latency_s = LATENCY_S
        emulator.state.journal.clear()
        arguments = {"volume_id": AVAILABLE, "new_size_gb": 72, "confirm": True}
        assert not (await session.call("extend_volume", arguments)).is_error
        first = steps(list(emulator.state.journal))
        emulator.state.journal.clear()  # the quota is cached now: the volume alone, then the PUT
        arguments = {"volume_id": AVAILABLE, "new_size_gb": 80, "confirm": True}
        assert not (await session.call("extend_volume", arguments)).is_error
        second = steps(list(emulator.state.journal))
    assert first == [["GET quota", "GET show"], ["PUT extend"]]
    assert second == [["GET show"], ["PUT extend"]]


async def test_snapshot_first_reads_volume_and_quota_once_under_the_lock(emulator: EmulatorServer) -> None:
    """The floor of a snapshot first: under the lock the volume and the quota set (also the snapshot count) are
    read together once, then the POST (and reads of the snapshot until it is available) and the PUT follow."""
    emulator.state.settings.snapshot_seconds = 0
    async with connect(emulator, settings=ServerSettings(confirmation="flag")) as session:
        await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        emulator.state.settings.latency_s = LATENCY_S
        emulator.state.journal.clear()
        arguments = {"volume_id": IN_USE, "new_size_gb": 208, "confirm": True, "snapshot_first": True}
        result = await session.call("extend_volume", arguments)
    assert not result.is_error, result.content
    assert steps(list(emulator.state.journal)) == [
        ["GET quota", "GET show"],
        ["POST snapshot"],
        ["PUT extend"],
    ]  # fmt: skip  (the snapshot was available in its create answer: no read of it needed)


async def test_a_failed_volume_read_beside_the_quota_is_the_error_itself(emulator: EmulatorServer) -> None:
    async with connect(emulator) as session:
        result = await session.call(
            "plan_volume_extension", {"volume_id": "00000000-0000-4000-8000-000000000000", "new_size_gb": 72}
        )
    assert result.is_error
    assert "ExceptionGroup" not in str(result.content)


def test_the_emulator_delays_every_answer(emulator: EmulatorServer) -> None:
    import httpx

    emulator.state.settings.latency_s = LATENCY_S
    with httpx.Client(base_url=emulator.url) as client:
        response = client.get("/v1/volumes")
    assert response.status_code == 401  # unsigned, and still a region away
    assert response.elapsed.total_seconds() >= LATENCY_S


async def test_a_list_asks_the_platform_for_what_is_wanted_with_its_filters(
    emulator: EmulatorServer, scp: ScpClient
) -> None:
    for volume in generated_volumes(2500):
        emulator.state.put(volume)
    emulator.state.journal.clear()
    assert len(await scp.list_volumes(max_items=20)) == 20
    assert [e.query for e in emulator.state.journal] == ["limit=20"]
    emulator.state.journal.clear()
    streamed = [v.id async for v in scp.iter_volumes(state="in-use", max_items=1200)]
    queries = [e.query for e in emulator.state.journal]
    assert len(streamed) == len(set(streamed)) == 419  # 417 generated (every sixth) and the two seeded in-use
    assert len(queries) == 1
    assert "state=in-use" in queries[0]
    assert "limit=1000" in queries[0]
    emulator.state.journal.clear()
    assert len([v async for v in scp.iter_volumes(max_items=2200)]) == 2200
    assert [e.query.split("&")[0] for e in emulator.state.journal] == ["limit=1000", "limit=1000", "limit=200"]


def test_generated_volumes_vary_and_are_distinct() -> None:
    volumes = generated_volumes(10_000)
    assert len({v["id"] for v in volumes}) == 10_000
    assert {v["state"] for v in volumes} >= {"available", "in-use", "error", "extending"}
    state = EmulatorState(volumes)
    found = state.page(name="gen-00042", state=None, marker=None, offset=0, limit=20)
    assert found is not None
    assert found[0] == 1
    assert found[1][0]["name"] == "gen-00042"


def reads_over(schedule_pauses: list[float], wait_s: float) -> int:
    """How many reads a wait of `wait_s` makes with these pauses (the last one repeating), reads taking no time."""
    now, reads, index = 0.0, 0, 0
    while True:
        now += schedule_pauses[min(index, len(schedule_pauses) - 1)]
        index += 1
        if now > wait_s:
            return reads
        reads += 1


def test_the_first_look_is_early_and_a_long_wait_reads_no_more_than_before() -> None:
    clock = [0.0]
    schedule = PollSchedule(600, 2.0, clock=lambda: clock[0])
    pauses = [schedule.next_pause() for _ in range(6)]
    assert pauses == pytest.approx([0.1, 0.3, 0.9, 2.0, 2.0, 2.0])
    before = [0.2, 0.4, 0.8, 1.6, 2.0]  # the schedule before: doubling from 0.2 s
    for wait_s in (1, 5, 60, 300, 3600):
        assert reads_over(pauses, wait_s) <= reads_over(before, wait_s) + (1 if wait_s < 1.3 else 0)
    assert reads_over(pauses, 300) <= reads_over(before, 300)

"""A snapshot taken first is this volume's and this attempt's, or it is no way back: the create answer, every
read while waiting and the read-back after an ambiguous create must name this volume and the name sent.
Otherwise nothing is resized and the snapshot is not recorded. Judged by the emulator's journal and the audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp.emulator import EmulatorServer, Fault, default_snapshots, default_volumes
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import connect, text

pytestmark = pytest.mark.anyio
OTHER_VOLUME = next(v["id"] for v in default_volumes() if v["name"] == "data-available")
NAME = "pre-extend fixed name for this test"
"""The name the step sends (made fixed here, so a scripted answer can carry it or not)."""
WEEKLY = default_snapshots()[0]
"""The example volume's seeded, available snapshot: a real id, whose reads a fault can then rewrite."""
FOREIGN_ID = "7e0c1b7e-8f2a-4c3d-9e4f-6a7b8c9d0e22"


@pytest.fixture(autouse=True)
def fixed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scp_volume_mcp.extension.snapshot_step.snapshot_name", lambda volume_id: NAME)


def snapshot(**fields: Any) -> dict[str, Any]:
    body = {"id": FOREIGN_ID, "volume_id": EXAMPLE_VOLUME_ID, "size": 100, "status": "available", "name": NAME}
    return {**body, **fields}


async def extend(emulator: EmulatorServer, log: Path) -> tuple[bool, str, dict[str, Any]]:
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05, audit_log=log)
    args = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "snapshot_first": True}
    async with connect(emulator, settings=settings) as session:
        result = await session.call("extend_volume", args)
    return bool(result.is_error), text(result), outcome_of(log)


def outcome_of(log: Path) -> dict[str, Any]:
    """The attempt's outcome record, after its intent."""
    intent, outcome = [json.loads(line) for line in log.read_text().splitlines()]
    assert intent["phase"] == "intent"
    return dict(outcome)


def assert_refused_as_foreign(emulator: EmulatorServer, shown: tuple[bool, str, dict[str, Any]], owner: str) -> None:
    is_error, said, outcome = shown
    assert is_error, said
    assert "Nothing was resized" in said
    assert "cannot serve as the way back" in said
    assert owner in said  # the volume the platform says it belongs to
    assert emulator.state.requests("PUT") == []  # no resize left
    assert len(emulator.state.requests("POST", "snapshot")) == 1  # nor a second snapshot
    assert (outcome["outcome"], outcome["http_status"]) == ("refused", None)
    assert outcome["snapshot_id"] is None  # a snapshot not this attempt's is not recorded as its way back


@pytest.mark.parametrize(
    ("answer", "owner"),
    [
        (snapshot(volume_id=OTHER_VOLUME), OTHER_VOLUME),  # another volume's snapshot, even with our name
        (snapshot(name="nightly"), EXAMPLE_VOLUME_ID),  # this volume's, but not the one requested
        (snapshot(volume_id=None), "no stated volume"),  # whose, the platform does not say
    ],
    ids=["other-volume", "other-name", "no-volume"],
)
async def test_a_create_answer_naming_another_snapshot_resizes_nothing(
    emulator: EmulatorServer, tmp_path: Path, answer: dict[str, Any], owner: str
) -> None:
    emulator.state.add_fault(Fault("snapshot", body=answer))
    shown = await extend(emulator, tmp_path / "audit.jsonl")
    assert_refused_as_foreign(emulator, shown, owner)
    assert FOREIGN_ID in shown[1]  # the snapshot the answer named


@pytest.mark.parametrize(
    ("reading", "owner"),
    [
        ({"volume_id": OTHER_VOLUME}, OTHER_VOLUME),
        ({"name": "volume01-weekly"}, EXAMPLE_VOLUME_ID),
        ({"id": FOREIGN_ID}, EXAMPLE_VOLUME_ID),  # a read by id that answers another id
    ],
    ids=["other-volume", "other-name", "other-id"],
)
async def test_a_read_while_waiting_that_names_another_snapshot_resizes_nothing(
    emulator: EmulatorServer, tmp_path: Path, reading: dict[str, str], owner: str
) -> None:
    # The create answer is ours (this volume, the name sent) and still creating; the next read of the same id
    # says it is available, but of another volume, under another name, or another snapshot altogether.
    emulator.state.add_fault(Fault("snapshot", body=snapshot(id=WEEKLY["id"], status="creating")))
    emulator.state.add_fault(Fault("snapshot_show", body=snapshot(**{"id": WEEKLY["id"], **reading})))
    shown = await extend(emulator, tmp_path / "audit.jsonl")
    assert_refused_as_foreign(emulator, shown, owner)
    assert len(emulator.state.requests("GET", "snapshot_show")) == 1


async def test_a_read_back_naming_a_snapshot_of_no_stated_volume_resizes_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # An ambiguous create (500): the snapshots are read back by name; the one found does not say its volume.
    emulator.state.add_fault(Fault("snapshot", status=500))
    emulator.state.add_fault(Fault("snapshots", body={"snapshots": [snapshot(volume_id=None)]}))
    shown = await extend(emulator, tmp_path / "audit.jsonl")
    assert_refused_as_foreign(emulator, shown, "no stated volume")
    assert FOREIGN_ID in shown[1]


async def test_this_volumes_snapshot_with_the_name_sent_is_still_the_way_back(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.state.add_fault(Fault("snapshot", body=snapshot(id=WEEKLY["id"], status="creating")))
    emulator.state.add_fault(Fault("snapshot_show", body=snapshot(id=WEEKLY["id"])))
    is_error, said, outcome = await extend(emulator, tmp_path / "audit.jsonl")
    assert not is_error, said
    assert len(emulator.state.requests("PUT", "extend")) == 1
    assert (outcome["outcome"], outcome["snapshot_id"]) == ("completed", WEEKLY["id"])


async def test_platform_text_in_a_foreign_answer_is_cleaned(emulator: EmulatorServer, tmp_path: Path) -> None:
    hostile = "\x1b[31mowner\u202e\n" * 30
    emulator.state.add_fault(Fault("snapshot", body=snapshot(volume_id=hostile, name=hostile)))
    is_error, said, _ = await extend(emulator, tmp_path / "audit.jsonl")
    assert is_error
    assert "Nothing was resized" in said
    assert FOREIGN_ID in said
    assert not any(char in said for char in "\x1b\u202e\n")  # the one line, without escapes or reversals
    assert said.count("owner") <= 2 * 64 // len("owner")  # each platform text capped in the sentence

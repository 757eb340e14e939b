"""The confirmation form offers the way back: when the volume has no snapshot and the snapshot policy lets the
caller choose, "take a snapshot first" sits beside yes and no, and a person who ticks it gets a snapshot before
the resize (the emulator's journal shows the POST before the PUT). Both protocol eras: the question sent
mid-call (legacy) and the question inside the tool result (2026-07-28)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client.context import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.settings import ServerSettings, SnapshotPolicy

from ..mcp_helpers import Elicitor, connect, text

pytestmark = pytest.mark.anyio
BARE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"
"""A seeded volume (64 GB, available) with no snapshot."""
MODES = pytest.mark.parametrize("mode", ["legacy", "auto"])


def person(content: dict[str, Any], asked: list[ElicitRequestParams]) -> Elicitor:
    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params)
        return ElicitResult(action="accept", content=content)

    return callback


def _settings(policy: SnapshotPolicy = "optional") -> ServerSettings:
    return ServerSettings(confirmation="human", poll_interval_s=0.05, snapshot_policy=policy)


def _schema(params: ElicitRequestParams) -> dict[str, Any]:
    schema = getattr(params, "requested_schema", None)
    assert isinstance(schema, dict)
    return schema


@MODES
async def test_a_person_who_asks_for_a_snapshot_first_gets_one_before_the_resize(
    emulator: EmulatorServer, mode: str
) -> None:
    emulator.state.settings.snapshot_seconds = 0.2
    asked: list[ElicitRequestParams] = []
    elicitation = person({"confirm": True, "snapshot_first": True}, asked)
    async with connect(emulator, mode=mode, settings=_settings(), elicitation=elicitation) as session:
        result = await session.call("extend_volume", {"volume_id": BARE, "new_size_gb": 72, "confirm": True})
    assert not result.is_error, text(result)
    assert "snapshot_first" in _schema(asked[0])["properties"]
    assert "unless you choose to take a snapshot first" in asked[0].message
    sent = [(entry.method, entry.path) for entry in emulator.state.journal.entries() if entry.method != "GET"]
    assert sent == [("POST", "/v1/snapshots"), ("PUT", f"/v1/volumes/{BARE}/size")], sent
    assert result.structured_content is not None
    assert result.structured_content["snapshot"] is not None
    assert result.structured_content["confirmed_by"] == "human"


@MODES
async def test_a_person_who_leaves_it_unticked_gets_the_resize_alone(emulator: EmulatorServer, mode: str) -> None:
    asked: list[ElicitRequestParams] = []
    answers: list[dict[str, Any]] = [{"confirm": True, "snapshot_first": False}, {"confirm": True}]
    answers.append({"confirm": True, "snapshot_first": "yes"})
    for content in answers:
        async with connect(emulator, mode=mode, settings=_settings(), elicitation=person(content, asked)) as session:
            size = 72 + 8 * len(asked)
            result = await session.call("extend_volume", {"volume_id": BARE, "new_size_gb": size, "confirm": True,
                                                          "wait": True})  # fmt: skip
        assert not result.is_error, text(result)
    assert emulator.state.requests("POST") == []  # only the JSON true asks for a snapshot
    assert len(emulator.state.requests("PUT")) == 3


@pytest.mark.parametrize("policy", ["required", "off"])
async def test_no_offer_when_the_policy_decides(emulator: EmulatorServer, policy: SnapshotPolicy) -> None:
    emulator.state.settings.snapshot_seconds = 0.2
    asked: list[ElicitRequestParams] = []
    elicitation = person({"confirm": True, "snapshot_first": True}, asked)
    async with connect(emulator, settings=_settings(policy), elicitation=elicitation) as session:
        result = await session.call("extend_volume", {"volume_id": BARE, "new_size_gb": 72, "confirm": True})
    assert not result.is_error, text(result)
    assert "snapshot_first" not in _schema(asked[0])["properties"]
    assert len(emulator.state.requests("POST")) == (1 if policy == "required" else 0)


async def test_no_offer_when_a_snapshot_exists(emulator: EmulatorServer) -> None:
    from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID  # seeded with a snapshot

    asked: list[ElicitRequestParams] = []
    elicitation = person({"confirm": True, "snapshot_first": True}, asked)
    async with connect(emulator, settings=_settings(), elicitation=elicitation) as session:
        result = await session.call(
            "extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
        )
    assert not result.is_error, text(result)
    assert "snapshot_first" not in _schema(asked[0])["properties"]
    assert emulator.state.requests("POST") == []


async def test_a_volume_changed_while_the_person_answered_is_asked_about_again_and_the_lock_is_let_go(
    emulator: EmulatorServer,
) -> None:
    """Protocol 2026-07-28: the round carrying the answer takes the volume's lock in its resolver and reads under
    it. If the volume changed meanwhile, the question is asked again about what it is now (nothing sent), that
    round's lock is released with its call, and the next answer's round can take it and extend once."""
    asked: list[ElicitRequestParams] = []

    async def changes_then_answers(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params)
        if len(asked) == 1:  # a console change while the person reads the first question
            emulator.state.put({**(emulator.state.get(BARE) or {}), "size": 72})
        return ElicitResult(action="accept", content={"confirm": True})

    async with connect(emulator, settings=_settings(), elicitation=changes_then_answers) as session:
        result = await session.call("extend_volume", {"volume_id": BARE, "new_size_gb": 80, "confirm": True})
    assert not result.is_error, text(result)
    assert len(asked) == 2
    assert "64 GB" in asked[0].message
    assert "72 GB" in asked[1].message
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 80}]

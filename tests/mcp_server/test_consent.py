"""Consent in every transport mode: transport (stdio, HTTP with sessions, stateless HTTP) x protocol era
(2025-06-18, 2025-11-25, 2026-07-28) x policy (SCP_CONFIRMATION auto, human, flag) x the client's answer
(accept, decline, no elicitation capability), against `scp-volume-mcp serve` in a real process.

Every call sends `confirm: true`, so only consent stands between the call and the PUT. Where a human could be
asked, no PUT goes out without a "yes"; where the server cannot know what the client declared (stateless HTTP
with a 2025-era client: capabilities travel in the `initialize` of a connection the next request does not
share, and a mid-call `elicitation/create` has no way back), `auto` and `human` refuse, naming why, and audit
the refusal; only the operator's explicit `flag` lets the flag alone decide. One server process serves all of
a transport and policy's cells over HTTP; over stdio each client has its own process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from scp_volume_mcp import messages
from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

from ..mcp_helpers import client_speaking, text
from .test_transports import SCRIPT, http_server, scp_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TRANSPORTS = ["stdio", "http", "http-stateless"]
ERAS = ["2025-06-18", "2025-11-25", "2026-07-28"]
POLICIES = ["auto", "human", "flag"]
ANSWERS = ["accept", "decline", "no-elicitation"]


@dataclass(frozen=True)
class Seen:
    """What one cell did: PUTs in the emulator's journal, whether the human was asked, and how it ended."""

    puts: int
    asked: bool
    ending: str
    """The result's outcome (`completed`, `declined`, ...), or `refused: <why>` for a tool error."""


def expected(transport: str, era: str, policy: str, answer: str) -> Seen:
    if policy == "flag":  # the operator's explicit choice: the confirm flag alone decides, nobody is asked
        return Seen(1, False, "completed")
    if transport == "http-stateless" and era != "2026-07-28":  # what the client declared cannot be known
        return Seen(0, False, "refused: stateless")
    if answer == "no-elicitation":  # nobody can be asked: `auto` lets the flag stand, `human` refuses
        return Seen(1, False, "completed") if policy == "auto" else Seen(0, False, "refused: no human")
    return Seen(1, True, "completed") if answer == "accept" else Seen(0, True, "declined")


def why(refusal: str, era: str) -> str:
    """The refusals this matrix tells apart, by their exact sentences."""
    if refusal == messages.HUMAN_REQUIRED:
        return "refused: no human"
    if refusal == messages.consent_unknowable(era):
        return "refused: stateless"
    return f"refused: {refusal}"


class Human:
    """The elicitation callback standing in for the person: answers as told, counts the questions."""

    def __init__(self) -> None:
        self.action = "accept"
        self.asked = 0

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        content = {"confirm": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


@contextmanager
def serving(transport: str, policy: str, emulator: EmulatorServer, trail: Path) -> Iterator[str | None]:
    """The HTTP server's URL for this transport and policy; None for stdio (a process per client)."""
    if transport == "stdio":
        yield None
        return
    args = ("--stateless",) if transport == "http-stateless" else ()
    with http_server(emulator, *args, SCP_CONFIRMATION=policy, SCP_AUDIT_LOG=str(trail)) as url:
        yield url


@asynccontextmanager
async def target(
    url: str | None, policy: str, emulator: EmulatorServer, trail: Path
) -> AsyncIterator[str | StdioServerParameters]:
    if url is not None:
        yield url
        return
    env = scp_env(emulator, SCP_CONFIRMATION=policy, SCP_AUDIT_LOG=str(trail))
    yield StdioServerParameters(command=SCRIPT, args=["serve"], env=env)


def refusals(trail: Path) -> list[str]:
    if not trail.exists():
        return []
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    return [r["detail"] for r in records if r["phase"] == "outcome" and r["outcome"] == "refused"]


async def cell(client: Client, human: Human, answer: str, emulator: EmulatorServer, trail: Path) -> Seen:
    """One call of `extend_volume` (to the next size, with `confirm: true`) and what it did."""
    human.action, asked_before = answer, human.asked
    puts_before, refused_before = len(emulator.state.requests("PUT")), len(refusals(trail))
    volume = emulator.state.get(EXAMPLE_VOLUME_ID)
    assert volume is not None
    arguments = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": volume["size"] // 8 * 8 + 8, "confirm": True}
    result = await client.call_tool("extend_volume", arguments)
    if result.is_error:
        said = text(result).removeprefix("Error executing tool extend_volume: ")
        ending = why(said, client.protocol_version)
        if refusals(trail)[refused_before:] != [said]:  # audited, as it was said, before anything was sent
            ending += " (not audited)"
    else:
        assert result.structured_content is not None
        ending = result.structured_content["outcome"]
    return Seen(len(emulator.state.requests("PUT")) - puts_before, human.asked > asked_before, ending)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_put_without_a_yes_where_a_human_can_be_asked(
    emulator: EmulatorServer, tmp_path: Path, transport: str, policy: str
) -> None:
    trail = tmp_path / "audit.jsonl"
    wrong: list[str] = []
    with serving(transport, policy, emulator, trail) as url:
        for era in ERAS:
            human = Human()
            for declares in (True, False):
                async with (
                    target(url, policy, emulator, trail) as server,
                    client_speaking(server, era, human if declares else None) as client,
                ):
                    for answer in ANSWERS[:2] if declares else ANSWERS[2:]:
                        seen = await cell(client, human, answer, emulator, trail)
                        if seen != (want := expected(transport, era, policy, answer)):
                            wrong.append(f"{transport} {era} {policy} {answer}: {seen}, expected {want}")
    assert not wrong, "\n".join(wrong)

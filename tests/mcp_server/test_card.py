"""The confirmation card (MCP Apps), through a real in-process client that negotiates the extension: what the
tools and the resource declare, where the token travels, and what the app-only tool does with it; the
emulator's journal shows what was sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.mcp_tools.card import CARD_META, CARD_TOOL, CARD_URI
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..card_host import chromium, host_page, run_host
from ..mcp_helpers import client_factory, text

pytestmark = pytest.mark.anyio
BARE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"
"""A seeded volume (64 GB, available) with no snapshot."""


class AppsHost(ClientExtension):
    """A host that renders MCP Apps, as far as the server can tell."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


@asynccontextmanager
async def host(emulator: EmulatorServer, *, apps: bool = True, **settings: Any) -> AsyncIterator[Client]:
    server = build_server(ServerSettings(poll_interval_s=0.05, **settings), client_factory(emulator))
    async with Client(server, extensions=[AppsHost()] if apps else None) as client:
        yield client


async def plan_card(client: Client, volume_id: str = EXAMPLE_VOLUME_ID, size: int = 104) -> dict[str, Any]:
    plan = await client.call_tool("plan_volume_extension", {"volume_id": volume_id, "new_size_gb": size})
    assert not plan.is_error, text(plan)
    assert plan.meta is not None, "a plan that would be accepted carries the card's token"
    card: dict[str, Any] = plan.meta[CARD_META]
    serialized = text(plan) + json.dumps(plan.structured_content)
    assert card["token"] not in serialized, "the token never reaches what the model reads"
    return card


async def press(client: Client, card: dict[str, Any], choice: str) -> Any:
    return await client.call_tool(card["tool"], {"token": card["token"], "choice": choice})


async def test_the_tools_name_the_card_and_the_card_is_an_app_resource(emulator: EmulatorServer) -> None:
    async with host(emulator) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        resource = await client.read_resource(CARD_URI)
    for name in ("plan_volume_extension", "extend_volume"):
        assert (tools[name].meta or {})["ui"] == {"resourceUri": CARD_URI}
    assert (tools[CARD_TOOL].meta or {})["ui"] == {"resourceUri": CARD_URI, "visibility": ["app"]}
    [content] = resource.contents
    assert content.mime_type == APP_MIME_TYPE
    html = getattr(content, "text", "")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):  # no data as markup
        assert sink not in html
    assert "textContent" in html


async def test_the_tools_also_carry_the_flat_resource_uri_key(emulator: EmulatorServer) -> None:
    """Hosts built before `_meta.ui.resourceUri` read the flat `_meta["ui/resourceUri"]` (deprecated by the
    spec, still read): both name the card."""
    async with host(emulator) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("plan_volume_extension", "extend_volume", CARD_TOOL):
        meta = tools[name].meta or {}
        assert meta["ui/resourceUri"] == meta["ui"]["resourceUri"] == CARD_URI


async def test_read_only_serves_the_card_without_its_buttons_tool(emulator: EmulatorServer) -> None:
    async with host(emulator, read_only=True) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
    assert CARD_TOOL not in names
    assert plan.meta is None or CARD_META not in plan.meta


async def test_a_host_without_apps_gets_no_token_and_no_card_tool(emulator: EmulatorServer) -> None:
    """Such a host does not know `visibility`: it would show the card's tool to its model. It neither lists nor
    calls it."""
    async with host(emulator, apps=False) as client:
        plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        names = [t.name for t in (await client.list_tools()).tools]
        with pytest.raises(MCPError) as unknown:
            await client.call_tool(CARD_TOOL, {"token": "x.y", "choice": "approve"})
        with pytest.raises(MCPError) as other:
            await client.call_tool("no_such_tool", {})
    for error in (unknown.value.error, other.value.error):  # the tools it can see are named; never the card's
        offered = error.message.split("This server offers", 1)[1]
        assert "extend_volume" in offered
        assert CARD_TOOL not in offered
    assert not plan.is_error
    assert plan.meta is None or CARD_META not in plan.meta
    assert names == ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]
    assert unknown.value.error.code == INVALID_PARAMS
    assert emulator.state.requests("PUT") == []


async def test_a_client_that_began_with_initialize_presses_its_own_card(emulator: EmulatorServer) -> None:
    """A 2025-era client (stdio, HTTP with sessions): the SDK makes a session object per request, and the card
    stays bound to the connection behind them."""
    server = build_server(ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    async with Client(server, mode="legacy", extensions=[AppsHost()]) as client:
        done = await press(client, await plan_card(client), "approve")
    assert not done.is_error, text(done)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_an_unusable_card_and_a_decline_are_on_record(emulator: EmulatorServer, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    server = build_server(ServerSettings(poll_interval_s=0.05, audit_log=log), client_factory(emulator))
    async with Client(server, extensions=[AppsHost()]) as client:
        card = await plan_card(client)
        declined = await press(client, card, "decline")
        again = await press(client, card, "approve")
    assert declined.structured_content is not None
    assert declined.structured_content["outcome"] == "declined"
    assert again.is_error
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(r["outcome"], r["volume_id"], r["requested_size_gb"]) for r in records] == [
        ("declined", EXAMPLE_VOLUME_ID, 104),
        ("refused", EXAMPLE_VOLUME_ID, 104),
    ]
    assert "already used" in records[1]["detail"]
    assert card["token"] not in log.read_text(encoding="utf-8")
    assert emulator.state.requests("PUT") == []


async def test_approve_extends_once_and_the_token_is_single_use(emulator: EmulatorServer) -> None:
    async with host(emulator) as client:
        card = await plan_card(client)
        done = await press(client, card, "approve")
        again = await press(client, card, "approve")
    assert not done.is_error, text(done)
    assert done.structured_content is not None
    assert (done.structured_content["confirmed_by"], done.structured_content["new_size_gb"]) == ("human", 104)
    assert again.is_error
    assert "already used" in text(again)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_a_token_from_another_session_or_forged_does_nothing(emulator: EmulatorServer) -> None:
    server = build_server(ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    async with Client(server, mode="legacy", extensions=[AppsHost()]) as first:  # a protocol with sessions
        card = await plan_card(first)
    async with Client(server, mode="legacy", extensions=[AppsHost()]) as second:
        other = await press(second, card, "approve")
        body, _, signature = card["token"].partition(".")
        forged = await press(second, {**card, "token": f"{body}.{signature[::-1]}"}, "approve")
    assert other.is_error
    assert "another session" in text(other)
    assert forged.is_error
    assert "not one this server issued" in text(forged)
    assert emulator.state.requests("PUT") == []


async def test_an_expired_card_does_nothing(emulator: EmulatorServer) -> None:
    server = build_server(ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    server.app_state.card_tokens.ttl_s = 0.0  # the card's minutes have passed by the time it is pressed
    async with Client(server, extensions=[AppsHost()]) as client:
        expired = await press(client, await plan_card(client), "approve")
    assert expired.is_error
    assert "expired" in text(expired)
    assert emulator.state.requests("PUT") == []


async def test_a_volume_changed_since_the_card_was_shown_is_refused(emulator: EmulatorServer) -> None:
    async with host(emulator) as client:
        card = await plan_card(client)
        emulator.state.put({**(emulator.state.get(EXAMPLE_VOLUME_ID) or {}), "size": 112})
        refused = await press(client, card, "approve")
    assert refused.is_error
    assert "112 GB now, not the 100 GB the card showed" in text(refused)
    assert emulator.state.requests("PUT") == []


async def test_decline_sends_nothing_and_snapshot_first_takes_one(emulator: EmulatorServer) -> None:
    async with host(emulator) as client:
        declined = await press(client, await plan_card(client, BARE, 72), "decline")
        with_snapshot = await press(client, await plan_card(client, BARE, 72), "approve_with_snapshot")
    assert declined.structured_content is not None
    assert declined.structured_content["outcome"] == "declined"
    assert not with_snapshot.is_error, text(with_snapshot)
    assert with_snapshot.structured_content is not None
    assert with_snapshot.structured_content["snapshot"] is not None
    sent = [(e.method, e.path) for e in emulator.state.requests() if e.method in ("POST", "PUT")]
    assert [method for method, _ in sent] == ["POST", "PUT"]


@pytest.mark.slow  # Chromium
async def test_the_card_in_a_real_browser_shows_hostile_text_as_text_and_its_button_extends(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Headless Chromium renders the card from a real plan whose volume name is a script; the host page presses
    Approve, and the `tools/call` the card makes is sent to the server as a host would forward it."""
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the card's browser test needs it")
    hostile = '<img src=x onerror="parent.pwned=1"><script>parent.document.title="PWNED"</script>'
    emulator.state.put({**(emulator.state.get(EXAMPLE_VOLUME_ID) or {}), "name": hostile})
    async with host(emulator) as client:
        plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        card_html = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
        result = plan.model_dump(mode="json", by_alias=True, exclude_none=True)
        shot = tmp_path / "card.png"
        report = await anyio.to_thread.run_sync(
            lambda: run_host(browser, host_page(card_html, result, "approve"), screenshot=shot)
        )
        assert report["initialized"]
        assert report["title"] == f"Extend {hostile}"  # the name, as text
        assert (report["images"], report["scripts"], report["pwned"]) == (0, 1, False)
        assert report["sizes"] == "100 GB → 104 GB"
        assert report["buttons"] == ["Approve", "Decline"]  # a snapshot exists: no "with a snapshot first"
        assert report["wayBack"].startswith("latest snapshot ")
        [call] = report["calls"]
        assert plan.meta is not None
        assert call == {"name": CARD_TOOL, "arguments": {"token": plan.meta[CARD_META]["token"], "choice": "approve"}}
        done = await client.call_tool(call["name"], call["arguments"])  # the host forwards the card's call
    assert not done.is_error, text(done)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_extend_volume_in_an_apps_host_shows_the_card_and_sends_nothing(emulator: EmulatorServer) -> None:
    arguments = {"volume_id": BARE, "new_size_gb": 72, "confirm": True}
    async with host(emulator, confirmation="auto") as client:
        waiting = await client.call_tool("extend_volume", arguments)
        assert not waiting.is_error, text(waiting)
        assert waiting.structured_content is not None
        assert (waiting.structured_content["outcome"], waiting.structured_content["request_sent"]) == (
            "awaiting_confirmation",
            False,
        )
        assert "confirmation card" in text(waiting)
        assert emulator.state.requests("PUT") == []
        assert waiting.meta is not None
        card = waiting.meta[CARD_META]
        assert card["plan"]["target_size_gb"] == 72
        assert card["plan"]["latest_snapshot"] is None  # the card says "none" and offers a snapshot first
        assert card["token"] not in text(waiting) + json.dumps(waiting.structured_content)
        done = await press(client, card, "approve")
    assert not done.is_error, text(done)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 72}]


async def test_the_flag_policy_extends_without_a_card(emulator: EmulatorServer) -> None:
    async with host(emulator, confirmation="flag") as client:
        done = await client.call_tool("extend_volume", {"volume_id": BARE, "new_size_gb": 72, "confirm": True})
    assert done.structured_content is not None
    assert done.structured_content["outcome"] in ("completed", "accepted")
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 72}]


@pytest.mark.slow  # Chromium
async def test_the_card_of_extend_volume_in_a_real_browser_offers_a_snapshot_first(emulator: EmulatorServer) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the card's browser test needs it")
    async with host(emulator, confirmation="auto") as client:
        waiting = await client.call_tool("extend_volume", {"volume_id": BARE, "new_size_gb": 72, "confirm": True})
        card_html = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
        result = waiting.model_dump(mode="json", by_alias=True, exclude_none=True)
        report = await anyio.to_thread.run_sync(lambda: run_host(browser, host_page(card_html, result, "decline")))
        [call] = report["calls"]
        declined = await client.call_tool(call["name"], call["arguments"])
    assert (report["sizes"], report["wayBack"]) == ("64 GB → 72 GB", "none")
    assert report["buttons"] == ["Approve", "Approve with a snapshot first", "Decline"]
    assert call["arguments"]["choice"] == "decline"
    assert declined.structured_content is not None
    assert declined.structured_content["outcome"] == "declined"
    assert emulator.state.requests("PUT") == []

"""The confirmation card as the guest of a host built on the official `@modelcontextprotocol/ext-apps` AppBridge
(npm), in headless Chromium: it takes the host's look (theme, style variables, fonts) at `ui/initialize` and when
the host says it changed, and a cancelled or failed call leaves it saying why, with no button, not waiting.

Skipped, saying so, where Chromium or Node.js is absent (`card_host.ext_apps_bridge` builds the bridge once per
machine from the npm registry)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from mcp import Client

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.mcp_tools.card import CARD_META, CARD_TOOL, CARD_URI
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..card_host import (
    WAITING,
    HostUnavailable,
    bridge_host_page,
    chromium,
    ext_apps_bridge,
    host_context,
    plan_scenario,
    run_bridge_host,
)
from ..mcp_helpers import client_factory, text
from .test_card import AppsHost

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # Chromium, a few seconds a page


@pytest.fixture(scope="module")
def browser() -> str:
    found = chromium()
    if found is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the AppBridge host needs it")
    return found


@pytest.fixture(scope="module")
def bridge() -> Path:
    try:
        return ext_apps_bridge()
    except HostUnavailable as exc:
        pytest.skip(str(exc))


def rgb(color: str) -> tuple[int, ...]:
    return tuple(int(float(n)) for n in re.findall(r"[0-9.]+", color)[:3])


def luminance(color: str) -> float:
    r, g, b = rgb(color)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


async def card_and_plan(emulator: EmulatorServer, **call: Any) -> tuple[str, dict[str, Any]]:
    """The card's HTML and a real result of `call` (a tool name and arguments; a plan by default)."""
    name = call.pop("tool", "plan_volume_extension")
    arguments = call or {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104}
    server = build_server(ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    async with Client(server, extensions=[AppsHost()]) as client:
        result = await client.call_tool(name, arguments)
        card = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
    return card, result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def host(browser: str, bridge: Path, card: str, scenario: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    page = bridge_host_page(card, scenario)
    report: dict[str, Any] = await anyio.to_thread.run_sync(lambda: run_bridge_host(browser, bridge, page, **kwargs))
    assert report["failed"] is None, report["failed"]
    assert report["initialized"], "the card never sent ui/notifications/initialized"
    return report


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_the_card_takes_the_hosts_theme_variables_and_font(
    emulator: EmulatorServer, browser: str, bridge: Path, theme: str, tmp_path: Path
) -> None:
    card, plan = await card_and_plan(emulator)
    shot = tmp_path / f"card-{theme}.png"
    report = await host(browser, bridge, card, plan_scenario(theme, plan), screenshot=shot)
    look = report["looks"]["plan"]
    assert report["appInfo"]["name"] == "scp-volume-mcp confirmation card"
    assert (look["sizes"], look["buttons"]) == ("100 GB → 104 GB", ["Approve", "Decline"])
    assert look["theme"] == theme
    if theme == "dark":  # the host's light-dark() values, resolved for a dark scheme: #1f1f23 on #f4f4f5
        assert (rgb(look["background"]), rgb(look["color"])) == ((31, 31, 35), (244, 244, 245))
    else:
        assert (rgb(look["background"]), rgb(look["color"])) == ((255, 255, 255), (24, 24, 27))
    assert look["font"] == '"Host Sans", sans-serif'  # --font-sans
    assert "font-family: 'Host Sans'" in look["hostFonts"]  # styles.css.fonts, added as a stylesheet
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_dark_host_that_sends_only_its_theme_still_gets_a_dark_card(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    card, plan = await card_and_plan(emulator)
    scenario = {**plan_scenario("dark", plan), "hostContext": host_context("dark", styled=False)}
    look = (await host(browser, bridge, card, scenario))["looks"]["plan"]
    assert luminance(look["background"]) < 0.2, look
    assert luminance(look["color"]) > 0.8, look


async def test_host_context_changed_turns_a_light_card_dark_and_back(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    """The notification carries only what changed (here the theme): the card keeps the variables it had, and
    their light-dark() values follow the new theme."""
    card, plan = await card_and_plan(emulator)
    scenario = plan_scenario("light", plan)
    scenario["steps"] += [
        {"context": {"theme": "dark"}},
        {"until": "a dark card"},
        {"look": "dark"},
        {"context": {"theme": "light", "styles": {"variables": {"--color-background-primary": "#fefce8"}}}},
        {"until": "a light card"},
        {"look": "light again"},
    ]
    looks = (await host(browser, bridge, card, scenario))["looks"]
    assert rgb(looks["plan"]["background"]) == (255, 255, 255)
    assert (looks["dark"]["theme"], rgb(looks["dark"]["background"])) == ("dark", (31, 31, 35))
    assert looks["dark"]["font"] == '"Host Sans", sans-serif'
    assert rgb(looks["light again"]["background"]) == (254, 252, 232)
    assert looks["light again"]["buttons"] == ["Approve", "Decline"]  # the plan is still there to approve


async def test_a_cancelled_call_leaves_the_card_saying_so_not_waiting(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    card, _ = await card_and_plan(emulator)
    steps = [
        {"input": {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104}},
        {"look": "before"},
        {"cancel": "the user stopped the call"},
        {"until": "the card to settle (no buttons, a reason)"},
        {"look": "cancelled"},
    ]
    scenario = {"hostContext": host_context("dark"), "callResult": {"content": []}, "steps": steps}
    looks = (await host(browser, bridge, card, scenario))["looks"]
    assert looks["before"]["sizes"] == WAITING
    assert looks["before"]["buttons"] == []  # nothing to approve before a plan, and no button pretends otherwise
    cancelled = looks["cancelled"]
    assert cancelled["sizes"] == "Nothing to approve"
    assert cancelled["status"] == "The call was cancelled: the user stopped the call. This card has nothing to approve."
    assert (cancelled["buttons"], cancelled["statusClass"]) == ([], "bad")


async def test_a_cancellation_after_the_plan_takes_its_buttons_away(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    card, plan = await card_and_plan(emulator)
    scenario = plan_scenario("light", plan)
    scenario["steps"] += [{"cancel": None}, {"until": "the card to settle (no buttons, a reason)"}, {"look": "after"}]
    after = (await host(browser, bridge, card, scenario))["looks"]["after"]
    assert (after["sizes"], after["buttons"]) == ("100 GB → 104 GB", [])
    assert after["status"] == "The call was cancelled. This card has nothing to approve."


async def test_a_failed_call_shows_its_reason_and_no_buttons(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    """A real refusal (a shrink) from `extend_volume`, as the host hands it over: an error result."""
    card, refused = await card_and_plan(
        emulator, tool="extend_volume", volume_id=EXAMPLE_VOLUME_ID, new_size_gb=50, confirm=True
    )
    assert refused["isError"]
    reason = "\n".join(block["text"] for block in refused["content"] if block["type"] == "text")
    steps = [{"input": {}}, {"result": refused}, {"until": "the card to settle (no buttons, a reason)"}, {"look": "x"}]
    scenario = {"hostContext": host_context("light"), "callResult": {"content": []}, "steps": steps}
    look = (await host(browser, bridge, card, scenario))["looks"]["x"]
    assert look["sizes"] != WAITING
    assert (look["status"], look["buttons"], look["statusClass"]) == (reason, [], "bad")
    assert emulator.state.requests("PUT") == []


async def test_approve_in_the_appbridge_host_calls_the_card_tool_once(
    emulator: EmulatorServer, browser: str, bridge: Path
) -> None:
    """The card's tools/call goes through the AppBridge (which checks it); the test forwards it to the server as
    a host would. A second press finds no button and calls nothing."""
    server = build_server(ServerSettings(poll_interval_s=0.05), client_factory(emulator))
    async with Client(server, extensions=[AppsHost()]) as client:
        planned = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        card = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
        scenario = plan_scenario("dark", planned.model_dump(mode="json", by_alias=True, exclude_none=True))
        scenario["callResult"] = {"content": [{"type": "text", "text": "Recorded by the test host."}]}
        scenario["steps"] += [{"press": "approve"}, {"until": "the card's tools/call"}, {"press": "approve"}]
        scenario["steps"] += [{"look": "after"}]
        report = await host(browser, bridge, card, scenario)
        [call] = report["calls"]
        assert planned.meta is not None
        token = planned.meta[CARD_META]["token"]
        assert call == {"name": CARD_TOOL, "arguments": {"token": token, "choice": "approve"}}
        done = await client.call_tool(call["name"], call["arguments"])
    assert not done.is_error, text(done)
    assert report["looks"]["after"]["buttons"] == []
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]

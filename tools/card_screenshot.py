"""Take the README's screenshot of the confirmation card: a real plan from the embedded emulator, rendered by
headless Chromium in the test host page (tests/card_host.py).

    python tools/card_screenshot.py [docs/confirmation-card.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.card_host import chromium, host_page, run_host  # noqa: E402
from tests.mcp_helpers import client_factory  # noqa: E402
from tests.test_confirmation_card import AppsHost  # noqa: E402

from scp_volume_mcp.emulator import EmulatorServer  # noqa: E402
from scp_volume_mcp.mcp_tools.card import CARD_URI  # noqa: E402
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID  # noqa: E402
from scp_volume_mcp.server import build_server  # noqa: E402
from scp_volume_mcp.settings import ServerSettings  # noqa: E402


async def main(out: Path) -> int:
    browser = chromium()
    if browser is None:
        print("card-screenshot: Chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    with EmulatorServer() as emulator:
        server = build_server(ServerSettings(audit_log=None), client_factory(emulator))
        async with Client(server, extensions=[AppsHost()]) as client:
            plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 256})
            card = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
    page = host_page(card, plan.model_dump(mode="json", by_alias=True, exclude_none=True), None)
    report = run_host(browser, page, screenshot=out)
    print(f"card-screenshot: {out} ({report['title']}, {report['sizes']})")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "confirmation-card.png")))

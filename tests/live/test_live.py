"""Read-only checks against a real SCP account (see README.md here). Skipped unless SCP_LIVE=1; never in CI."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from scp_volume_mcp.scp import ScpClient, classify_state, load_config

pytestmark = [
    pytest.mark.live,
    pytest.mark.anyio,
    pytest.mark.skipif(
        os.environ.get("SCP_LIVE") != "1" or bool(os.environ.get("CI")),
        reason="live SCP checks run only with SCP_LIVE=1, outside CI (see tests/live/README.md)",
    ),
]


@pytest.fixture
async def live() -> AsyncIterator[ScpClient]:
    async with ScpClient(load_config()) as client:
        yield client


async def test_endpoint_resolution(live: ScpClient) -> None:
    endpoint = await live.resolve_endpoint()
    print(f"endpoint {endpoint} [{live.config.sources.get('endpoint')}]")
    assert endpoint.startswith(("https://", "http://127.0.0.1", "http://localhost"))


async def test_list_and_show(live: ScpClient) -> None:
    volumes = await live.list_volumes(page_size=5, max_items=5)
    for volume in volumes:
        print(f"{volume.id} {volume.size} GB {volume.state!r} -> {classify_state(volume.state)}")
    wanted = os.environ.get("SCP_LIVE_VOLUME_ID") or (volumes[0].id if volumes else None)
    if wanted is None:
        pytest.skip("no volume in this account and region to show")
    shown = await live.show_volume(wanted)
    assert shown.id == wanted
    assert shown.size >= 8


async def test_quota(live: ScpClient) -> None:
    quota = await live.show_volume_quota_set()
    per_volume = quota.per_volume_size
    raw = per_volume.limit if per_volume else "(no per_volume_size)"
    stated = per_volume.stated_limit if per_volume else None
    print(f"per_volume_size.limit as sent: {raw!r}; means: {stated or 'no stated limit, the platform decides'}")

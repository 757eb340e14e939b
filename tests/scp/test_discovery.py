"""Endpoint resolution in Samsung's order: explicit, `endpoint-override`, discovery from the auth URL, template.
Discovery runs against the emulator's signed `GET /v1/endpoints`."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, ScpConfigError, ScpDiscoveryError, _session, load_config

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    _session._DISCOVERED.clear()
    yield
    _session._DISCOVERED.clear()


def _config(emulator: EmulatorServer, region: str | None = "kr-west1", **env: str) -> Any:
    return load_config(
        access_key=EMULATOR_ACCESS_KEY,
        secret_key=EMULATOR_SECRET_KEY,
        auth_url=f"{emulator.url}/v1",
        region=region,
        env={"SCP_CONFIG_DIR": "/nonexistent", **env},
    )


def _entry(region: str, url: str = "{self}", service_type: str = "scp-virtualserver") -> dict[str, str]:
    return {"region": region, "service_type": service_type, "service_name": "x", "url": url}


async def test_discovery_finds_the_emulator_once(emulator: EmulatorServer) -> None:
    config = _config(emulator)
    assert config.endpoint is None
    assert config.sources["endpoint"] == f"discovered from {emulator.url}/v1/endpoints"
    async with ScpClient(config) as scp:
        async with anyio.create_task_group() as group:  # concurrent first calls discover once
            for _ in range(5):
                group.start_soon(scp.show_volume, EXAMPLE_VOLUME_ID)
        assert scp.endpoint == emulator.url
    async with ScpClient(config) as again:  # cached for the process
        await again.list_volumes()
    catalog = emulator.state.requests("GET", "endpoints")
    assert len(catalog) == 1
    assert catalog[0].signature_valid
    assert catalog[0].version_header is None
    assert len(emulator.state.requests("GET", "show")) == 5


async def test_one_entry_is_used_whatever_its_region(emulator: EmulatorServer) -> None:
    emulator.state.settings.endpoint_catalog = [_entry("kr-south9"), _entry("kr-west1", service_type="scp-iam")]
    async with ScpClient(_config(emulator, region="kr-east1")) as scp:
        assert (await scp.show_volume(EXAMPLE_VOLUME_ID)).size == 100


async def test_several_entries_are_chosen_by_region(emulator: EmulatorServer) -> None:
    emulator.state.settings.endpoint_catalog = [
        _entry("kr-east1", "https://virtualserver.kr-east1.e.samsungsdscloud.com"),
        _entry("kr-west1"),
    ]
    async with ScpClient(_config(emulator, region="kr-west1")) as scp:
        await scp.list_volumes()
        assert scp.endpoint == emulator.url


@pytest.mark.parametrize(
    ("catalog", "region", "said"),
    [
        ([_entry("kr-east1"), _entry("kr-south1")], "kr-west1",
         "listed no scp-virtualserver endpoint for region kr-west1 (regions found: kr-east1, kr-south1)"),
        ([_entry("kr-east1"), _entry("kr-south1")], None, "no region is set"),
        ([_entry("kr-west1", service_type="scp-iam")], "kr-west1",
         "none of service type scp-virtualserver (service types found: scp-iam)"),
        ([_entry("kr-west1", "http://203.0.113.9")], "kr-west1", "plain http on a non-loopback address"),
        ([_entry("r" * 500), _entry("kr-east1")], "kr-west1", "r…"),
        ([], "kr-west1", "listed 0 endpoint(s)"),
    ],
)  # fmt: skip
async def test_discovery_failures_say_what_was_asked_and_what_came_back(
    emulator: EmulatorServer, catalog: list[dict[str, str]], region: str | None, said: str
) -> None:
    emulator.state.settings.endpoint_catalog = catalog
    async with ScpClient(_config(emulator, region=region)) as scp:
        with pytest.raises(ScpDiscoveryError) as caught:
            await scp.show_volume(EXAMPLE_VOLUME_ID)
    message = str(caught.value)
    assert f"GET {emulator.url}/v1/endpoints" in message
    assert said in message
    assert len(message) < 600  # the catalog is untrusted: quoted only in bounded pieces
    assert emulator.state.requests("GET", "show") == []  # nothing else was sent


async def test_a_refused_discovery_names_the_status(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("endpoints", status=401))
    async with ScpClient(_config(emulator)) as scp:
        with pytest.raises(ScpDiscoveryError, match=r"/v1/endpoints answered 401: Injected fault"):
            await scp.list_volumes()
    assert EMULATOR_SECRET_KEY not in str(scp)


async def test_a_malformed_catalog_is_said_as_such(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("endpoints", body={"items": []}))
    async with ScpClient(_config(emulator)) as scp:
        with pytest.raises(ScpDiscoveryError, match="without an `endpoints` list"):
            await scp.list_volumes()


def _scpconf(tmp_path: Path, config: dict[str, str]) -> dict[str, str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "credentials.json").write_text(json.dumps({"access-key": "ak", "secret-key": "sk"}))
    return {"SCP_CONFIG_DIR": str(tmp_path)}


def test_the_order_is_explicit_then_override_then_discovery_then_template(tmp_path: Path) -> None:
    iam = "https://iam.e.samsungsdscloud.com/v1"
    env = _scpconf(tmp_path, {"auth-url": iam, "default-region": "kr-west1", "endpoint-override": "https://o.test"})
    config = load_config(env=env)
    assert (config.endpoint, config.sources["endpoint"]) == (
        "https://o.test",
        f"{tmp_path}/config.json (endpoint-override)",
    )
    config = load_config(env={**env, "SCP_ENDPOINT": "https://e.test"})
    assert (config.endpoint, config.sources["endpoint"]) == ("https://e.test", "environment SCP_ENDPOINT")
    env = _scpconf(tmp_path, {"auth-url": iam, "default-region": "kr-west1"})
    config = load_config(env=env)
    assert (config.endpoint, config.sources["endpoint"]) == (None, f"discovered from {iam}/endpoints")
    env = _scpconf(tmp_path, {"default-region": "kr-west1"})
    config = load_config(env={**env, "SCP_ENVIRONMENT": "e"})
    assert config.endpoint == "https://virtualserver.kr-west1.e.samsungsdscloud.com"
    assert config.sources["endpoint"] == "built from region and environment"


def test_a_plain_http_auth_url_is_for_loopback_only() -> None:
    with pytest.raises(ScpConfigError, match=r"SCP auth URL http://iam\.example\.test uses plain http"):
        load_config(access_key="a", secret_key="s", auth_url="http://iam.example.test/v1", env={})
    assert load_config(access_key="a", secret_key="s", auth_url="http://127.0.0.1:9/v1", env={}).endpoint is None


def test_doctor_shows_how_the_endpoint_was_found(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", "/nonexistent")
    monkeypatch.setenv("SCP_AUTH_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("SCP_REGION", "kr-west1")
    monkeypatch.setenv("SCP_ACCESS_KEY", EMULATOR_ACCESS_KEY)
    monkeypatch.setenv("SCP_SECRET_KEY", EMULATOR_SECRET_KEY)
    out = io.StringIO()
    status = run_doctor(out)
    report = out.getvalue()
    assert status == 0, report
    assert f"[discovered from {emulator.url}/v1/endpoints]" in report
    assert f"ok    endpoint {emulator.url} [discovered from" in report
    assert [e.route for e in emulator.state.journal] == ["endpoints", "list"]


def test_the_emulator_command_prints_an_auth_url_for_rehearsing_discovery() -> None:
    from scp_volume_mcp import cli

    assert "SCP_AUTH_URL=http://{host}:{args.port}/v1" in Path(cli.__file__).read_text()


@pytest.mark.slow
def test_the_live_checks_are_read_only_and_skipped_without_scp_live(emulator: EmulatorServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    live = str(Path(__file__).parents[1] / "live")
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCP_") and k != "CI"}
    skipped = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", live],
                             env=base, capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert "3 skipped" in skipped.stdout, skipped.stdout
    env = {**base, "SCP_LIVE": "1", "SCP_CONFIG_DIR": "/nonexistent", "SCP_AUTH_URL": f"{emulator.url}/v1",
           "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY, "SCP_SECRET_KEY": EMULATOR_SECRET_KEY}  # fmt: skip
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "live", live],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert "3 passed" in ran.stdout, ran.stdout + ran.stderr
    assert {e.method for e in emulator.state.journal} == {"GET"}
    assert {e.route for e in emulator.state.journal} == {"endpoints", "list", "show", "quota"}

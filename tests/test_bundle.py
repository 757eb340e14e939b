"""The one-click bundle: the manifest validates, stays in sync with the server, and a packed bundle starts
exactly as its mcp_config says, on a bare Python with nothing installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.messages import DESCRIPTIONS
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
NPX = shutil.which("npx")
needs_node = pytest.mark.skipif(NPX is None, reason="Node.js (npx) is not installed: the mcpb CLI cannot run here")
BARE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"


@pytest.mark.anyio
async def test_manifest_tools_match_the_server() -> None:
    listed = await build_server(ServerSettings()).list_tools()
    assert [(t.name, t.description) for t in listed] == [(t["name"], t["description"]) for t in MANIFEST["tools"]]
    assert list(DESCRIPTIONS) == [t["name"] for t in MANIFEST["tools"]]


def test_manifest_matches_the_package() -> None:
    from scp_volume_mcp import __version__

    assert MANIFEST["version"] == __version__
    assert MANIFEST["server"]["entry_point"] == "server/main.py"
    assert (ROOT / MANIFEST["server"]["entry_point"]).is_file()
    user_config = MANIFEST["user_config"]
    assert user_config["access_key"]["sensitive"] is True
    assert user_config["secret_key"]["sensitive"] is True
    env = MANIFEST["server"]["mcp_config"]["env"]
    for variable in ("SCP_ACCESS_KEY", "SCP_SECRET_KEY", "SCP_REGION", "SCP_ENVIRONMENT", "SCP_ENDPOINT",
                     "SCP_API_VERSION", "SCP_CONFIRMATION", "SCP_READ_ONLY"):  # fmt: skip
        key = env[variable].removeprefix("${user_config.").removesuffix("}")
        assert key in user_config, variable


@needs_node
def test_mcpb_validate_passes() -> None:
    assert NPX is not None
    done = subprocess.run(
        [NPX, "-y", "@anthropic-ai/mcpb@2.1.2", "validate", str(ROOT / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes" in done.stdout


@pytest.fixture(scope="module")
def unpacked_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if NPX is None:
        pytest.skip("Node.js (npx) is not installed: the mcpb CLI cannot pack the bundle here")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from build_bundle import build
    finally:
        sys.path.remove(str(ROOT / "tools"))
    out = tmp_path_factory.mktemp("dist")
    bundle = build(out)
    assert bundle.name == f"scp-volume-mcp-{MANIFEST['version']}.mcpb"
    target = tmp_path_factory.mktemp("installed")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(target)
    return target


def _has_mcp(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import mcp"], capture_output=True).returncode == 0


def _substitute(value: str, dirname: Path, user_config: dict[str, Any]) -> str:
    value = value.replace("${__dirname}", str(dirname))
    for key, setting in user_config.items():
        value = value.replace("${user_config." + key + "}", str(setting))
    return value


@needs_node
@pytest.mark.anyio
@pytest.mark.skipif(not BARE_PYTHON.exists(), reason="no base interpreter outside the virtual environment")
async def test_packed_bundle_starts_from_its_manifest(unpacked_bundle: Path, emulator: EmulatorServer) -> None:
    manifest = json.loads((unpacked_bundle / "manifest.json").read_text())
    user_config = {
        "access_key": EMULATOR_ACCESS_KEY,
        "secret_key": EMULATOR_SECRET_KEY,
        "region": "kr-west1",
        "environment": "e",
        "endpoint": emulator.url,
        "api_version": "1.3",
        "confirmation": "flag",
        "read_only": "false",
    }
    config = manifest["server"]["mcp_config"]
    assert config["command"] == "python3"
    env = {k: _substitute(v, unpacked_bundle, user_config) for k, v in config["env"].items()}
    args = [_substitute(a, unpacked_bundle, user_config) for a in config["args"]]
    # A bare interpreter, not this virtual environment: everything must come from the bundle itself.
    assert not _has_mcp(BARE_PYTHON)
    server = StdioServerParameters(command=str(BARE_PYTHON), args=args, env=env, cwd=str(unpacked_bundle))
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == [t["name"] for t in MANIFEST["tools"]]
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["name"] == "volume01"
    assert emulator.state.journal[-1].signature_valid


@needs_node
@pytest.mark.anyio
async def test_unset_optional_settings_left_as_placeholders_are_ignored(
    unpacked_bundle: Path, emulator: EmulatorServer
) -> None:
    main = unpacked_bundle / "server" / "main.py"
    env = {
        "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
        "SCP_SECRET_KEY": EMULATOR_SECRET_KEY,
        "SCP_ENDPOINT": emulator.url,
        "SCP_API_VERSION": "${user_config.api_version}",
        "SCP_CONFIRMATION": "${user_config.confirmation}",
        "SCP_READ_ONLY": "${user_config.read_only}",
        "PYTHONPATH": str(unpacked_bundle / "server" / "lib"),
    }
    async with Client(StdioServerParameters(command=str(BARE_PYTHON), args=[str(main)], env=env)) as client:
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert not result.is_error, result.content

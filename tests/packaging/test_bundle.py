"""The one-click bundles: the manifest validates and stays in sync with the server, and each packed bundle starts
exactly as its manifest says: the default `uv` bundle through uv (installing its dependencies from PyPI, as the
host does), the `--vendored` one on a bare Python with nothing installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.messages import DESCRIPTIONS
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.server import build_server
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import for_the_model

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "manifest.json").read_text())
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
MCPB = "@anthropic-ai/mcpb@2.1.2"
NPX = shutil.which("npx")
needs_node = pytest.mark.skipif(NPX is None, reason="Node.js (npx) is not installed: the mcpb CLI cannot run here")
BARE_PYTHON = Path(sys.base_prefix) / "bin" / "python3"
needs_bare_python = pytest.mark.skipif(
    not BARE_PYTHON.exists(), reason="no base interpreter outside the virtual environment"
)
ENV_SETTINGS = {
    "SCP_ACCESS_KEY": "access_key",
    "SCP_SECRET_KEY": "secret_key",
    "SCP_REGION": "region",
    "SCP_ENVIRONMENT": "environment",
    "SCP_ENDPOINT": "endpoint",
    "SCP_API_VERSION": "api_version",
    "SCP_CONFIRMATION": "confirmation",
    "SCP_READ_ONLY": "read_only",
    "SCP_SNAPSHOT_POLICY": "snapshot_policy",
    "SCP_POLICY_FILE": "policy_file",
}


@pytest.mark.anyio
async def test_manifest_tools_match_the_server() -> None:
    listed = for_the_model(await build_server(ServerSettings()).list_tools())
    assert [(t.name, t.description) for t in listed] == [(t["name"], t["description"]) for t in MANIFEST["tools"]]
    assert list(DESCRIPTIONS) == [t["name"] for t in MANIFEST["tools"]]


def test_manifest_matches_the_package() -> None:
    from scp_volume_mcp import __version__

    assert MANIFEST["version"] == __version__
    assert MANIFEST["manifest_version"] == "0.4"
    server = MANIFEST["server"]
    assert server["type"] == "uv"
    assert server["entry_point"] == "server/main.py"
    assert (ROOT / server["entry_point"]).is_file()
    config = server["mcp_config"]
    command = [config["command"], *config["args"]]
    assert command == ["uv", "run", "--directory", "${__dirname}", "server/main.py", "serve"]
    user_config = MANIFEST["user_config"]
    assert user_config["access_key"]["sensitive"] is True
    assert user_config["secret_key"]["sensitive"] is True
    # Every setting is wired to its variable, and nothing else is (no PYTHONPATH: uv builds the environment).
    assert config["env"] == {variable: "${user_config." + key + "}" for variable, key in ENV_SETTINGS.items()}
    assert set(ENV_SETTINGS.values()) == set(user_config)
    snapshot = user_config["snapshot_policy"]
    assert (snapshot["title"], snapshot["type"], snapshot["default"], snapshot["required"]) == (
        "Snapshot policy",
        "string",
        "optional",
        False,
    )
    assert all(value in snapshot["description"] for value in ("optional", "required", "off"))


def _mcpb_validate(manifest: Path) -> None:
    assert NPX is not None
    done = subprocess.run([NPX, "-y", MCPB, "validate", str(manifest)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passes" in done.stdout


@pytest.mark.slow
@needs_node
def test_mcpb_validate_passes() -> None:
    _mcpb_validate(ROOT / "manifest.json")


@pytest.mark.slow
@needs_node
def test_mcpb_validate_rejects_a_broken_manifest(tmp_path: Path) -> None:
    broken = {**MANIFEST, "server": {**MANIFEST["server"], "type": "conda"}}
    (tmp_path / "manifest.json").write_text(json.dumps(broken))
    with pytest.raises(AssertionError):
        _mcpb_validate(tmp_path / "manifest.json")


def _build(out: Path, *, vendored: bool) -> Path:
    if NPX is None:
        pytest.skip("Node.js (npx) is not installed: the mcpb CLI cannot pack the bundle here")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from build_bundle import build
    finally:
        sys.path.remove(str(ROOT / "tools"))
    bundle: Path = build(out, vendored=vendored)
    return bundle


BUILT_KB: dict[str, float] = {}
"""The size of each bundle built in this run, in kB."""


def _unpack(bundle: Path, target: Path) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="module")
def uv_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = _build(tmp_path_factory.mktemp("dist"), vendored=False)
    assert bundle.name == f"scp-volume-mcp-{MANIFEST['version']}.mcpb"
    BUILT_KB["uv"] = bundle.stat().st_size / 1000
    return _unpack(bundle, tmp_path_factory.mktemp("installed-uv"))


@pytest.fixture(scope="module")
def vendored_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = _build(tmp_path_factory.mktemp("dist"), vendored=True)
    major, minor = sys.version_info[:2]
    assert bundle.name == f"scp-volume-mcp-{MANIFEST['version']}-vendored-{sys.platform}-py{major}{minor}.mcpb"
    return _unpack(bundle, tmp_path_factory.mktemp("installed-vendored"))


def _has_mcp(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import mcp"], capture_output=True).returncode == 0


def _substitute(value: str, dirname: Path, user_config: dict[str, str]) -> str:
    value = value.replace("${__dirname}", str(dirname))
    for key, setting in user_config.items():
        value = value.replace("${user_config." + key + "}", setting)
    return value


def _user_config(emulator: EmulatorServer) -> dict[str, str]:
    """What the host collects from the user, as the strings it substitutes."""
    return {
        "access_key": EMULATOR_ACCESS_KEY,
        "secret_key": EMULATOR_SECRET_KEY,
        "region": "kr-west1",
        "environment": "e",
        "endpoint": emulator.url,
        "api_version": "1.3",
        "confirmation": "flag",
        "read_only": "false",
        "snapshot_policy": "optional",
    }


async def _lists_tools_and_reads_a_volume(server: StdioServerParameters, emulator: EmulatorServer) -> None:
    async with Client(server, read_timeout_seconds=300) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == [t["name"] for t in MANIFEST["tools"]]
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["name"] == "volume01"
    assert emulator.state.journal[-1].signature_valid


@pytest.mark.slow
def test_the_readme_says_the_uv_bundles_measured_size(uv_bundle: Path) -> None:
    """The README's "about" is within a tenth of the build (the README is in the bundle, and the code moves)."""
    readme = (ROOT / "README.md").read_text()
    [said] = re.findall(r"bundle of server type `uv`\s+\(about (\d+) kB\)", readme)
    assert abs(int(said) - BUILT_KB["uv"]) <= 0.1 * BUILT_KB["uv"], BUILT_KB


def test_the_bundle_entry_point_describes_the_uv_layout() -> None:
    doc = (ROOT / "server" / "main.py").read_text().split('"""')[1]
    assert "uv run --directory <bundle> server/main.py serve" in doc
    assert "pyproject.toml" in doc


@pytest.mark.slow
def test_uv_bundle_carries_the_code_and_the_dependencies_to_install(uv_bundle: Path) -> None:
    assert json.loads((uv_bundle / "manifest.json").read_text()) == MANIFEST
    assert (uv_bundle / "server" / "main.py").is_file()
    assert (uv_bundle / "server" / "scp_volume_mcp" / "server.py").is_file()
    assert not (uv_bundle / "server" / "lib").exists()  # the 0.4 uv type forbids vendored dependencies
    bundled = tomllib.loads((uv_bundle / "pyproject.toml").read_text())
    assert bundled["project"]["dependencies"] == PROJECT["dependencies"]
    assert bundled["project"]["requires-python"] == PROJECT["requires-python"]
    assert bundled["project"]["version"] == MANIFEST["version"]
    assert bundled["tool"]["uv"]["package"] is False
    assert not list(uv_bundle.rglob("__pycache__"))


def _uv_env() -> dict[str, str]:
    """The host's environment as far as uv needs it: this machine's python3 (no uv-managed download), and the
    index, cache, proxy and CA settings in force here (the MCP client passes only a short allowlist on)."""
    passed = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    env = {k: v for k, v in os.environ.items() if k.startswith("UV_") or k.upper() in passed}
    return {**env, "UV_PYTHON": str(BARE_PYTHON), "UV_PYTHON_DOWNLOADS": "never"}


@pytest.mark.slow
@needs_bare_python
@pytest.mark.anyio
async def test_uv_bundle_starts_as_the_host_starts_it(uv_bundle: Path, emulator: EmulatorServer) -> None:
    from uv import find_uv_bin

    config = json.loads((uv_bundle / "manifest.json").read_text())["server"]["mcp_config"]
    user_config = _user_config(emulator)
    env = {k: _substitute(v, uv_bundle, user_config) for k, v in config["env"].items()}
    args = [_substitute(a, uv_bundle, user_config) for a in config["args"]]
    assert config["command"] == "uv"
    assert not (uv_bundle / ".venv").exists()
    server = StdioServerParameters(command=find_uv_bin(), args=args, env={**env, **_uv_env()})
    started = time.monotonic()
    await _lists_tools_and_reads_a_volume(server, emulator)
    print(f"uv bundle: first start, dependencies installed, one call: {time.monotonic() - started:.1f} s")
    # uv made the environment inside the bundle, from this machine's interpreter and the bundle's pyproject.toml.
    venv_config = (uv_bundle / ".venv" / "pyvenv.cfg").read_text()
    assert f"version_info = {sys.version_info.major}.{sys.version_info.minor}" in venv_config


@pytest.mark.slow
def test_vendored_bundle_ships_no_build_machine_scripts(vendored_bundle: Path) -> None:
    manifest = json.loads((vendored_bundle / "manifest.json").read_text())
    assert (manifest["manifest_version"], manifest["server"]["type"]) == ("0.3", "python")
    assert manifest["compatibility"]["platforms"] == [sys.platform]
    lib = vendored_bundle / "server" / "lib"
    assert (lib / "pydantic_core").is_dir()
    assert not (lib / "bin").exists()
    assert not list(lib.rglob("__pycache__"))
    assert manifest["tools"] == MANIFEST["tools"]
    assert manifest["user_config"] == MANIFEST["user_config"]


@pytest.mark.slow
@needs_node
def test_vendored_manifest_validates(vendored_bundle: Path) -> None:
    _mcpb_validate(vendored_bundle / "manifest.json")


@pytest.mark.slow
@needs_bare_python
@pytest.mark.anyio
async def test_vendored_bundle_starts_from_its_manifest(vendored_bundle: Path, emulator: EmulatorServer) -> None:
    config = json.loads((vendored_bundle / "manifest.json").read_text())["server"]["mcp_config"]
    user_config = _user_config(emulator)
    assert config["command"] == "python3"
    env = {k: _substitute(v, vendored_bundle, user_config) for k, v in config["env"].items()}
    args = [_substitute(a, vendored_bundle, user_config) for a in config["args"]]
    # A bare interpreter, not this virtual environment: everything must come from the bundle itself.
    assert not _has_mcp(BARE_PYTHON)
    server = StdioServerParameters(command=str(BARE_PYTHON), args=args, env=env, cwd=str(vendored_bundle))
    await _lists_tools_and_reads_a_volume(server, emulator)


@pytest.mark.slow
@needs_bare_python
@pytest.mark.anyio
async def test_unset_optional_settings_left_as_placeholders_are_ignored(
    vendored_bundle: Path, emulator: EmulatorServer
) -> None:
    main = vendored_bundle / "server" / "main.py"
    env = {
        "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
        "SCP_SECRET_KEY": EMULATOR_SECRET_KEY,
        "SCP_ENDPOINT": emulator.url,
        "SCP_API_VERSION": "${user_config.api_version}",
        "SCP_CONFIRMATION": "${user_config.confirmation}",
        "SCP_READ_ONLY": "${user_config.read_only}",
        "SCP_SNAPSHOT_POLICY": "${user_config.snapshot_policy}",
        "PYTHONPATH": str(vendored_bundle / "server" / "lib"),
    }
    async with Client(StdioServerParameters(command=str(BARE_PYTHON), args=[str(main)], env=env)) as client:
        result = await client.call_tool("get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
    assert not result.is_error, result.content

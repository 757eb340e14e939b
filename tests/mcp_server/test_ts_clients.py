"""Refusals as the hosts nobody here wrote show them: the TypeScript SDK's v1 client (`@modelcontextprotocol/sdk`
1.x, which most hosts embed), its v2 client (`@modelcontextprotocol/client` 2.x) and the Inspector CLI
(`@modelcontextprotocol/inspector` 2.x), over stdio (`scp-volume-mcp serve`) and streamable HTTP.

A client that checks `structuredContent` against the tool's output schema even on an error result shows its
user "Structured content does not match the tool's output schema" instead of the reason, unless every refusal
satisfies that schema. Each refused `extend_volume` must reach the user as its reason.

The clients come from npm, installed once into a cache folder (SCP_MCP_TS_CLIENTS_DIR, else
~/.cache/scp-volume-mcp/ts-clients), never into the repository; the tests are skipped, saying why, where Node
or npm is missing or the registry cannot be reached.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

from ..emulator.test_emulator import VOLUMES
from .test_transports import SCRIPT, http_server, scp_env

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parents[1].joinpath("ts_clients")
PACKAGES = {  # what a host embeds today: the newest of each major line
    "@modelcontextprotocol/sdk": "1",
    "@modelcontextprotocol/client": "2",
    "@modelcontextprotocol/inspector": "2",
}
INSTALL_BUDGET_S = 600.0  # the first run downloads about 100 MB; later runs find the cache
NPM_INSTALL = (
    *("npm", "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error"),
    *("--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000"),
)
"""Its retries make an unreachable registry a skip in seconds, not after npm's minutes of retrying."""
CALL_BUDGET_S = 120.0  # one client's calls, server start-up included
SCHEMA_ERRORS = ("output schema", "does not match", "must have required property", "-32602", "Failed to validate")

UNKNOWN_VOLUME = "00000000-0000-4000-8000-000000000000"
CASES: dict[str, tuple[dict[str, Any], str, str | None]] = {
    # case: (extend_volume's arguments, what the user must read, the refusal's reason code: None when the
    # result carries no typed refusal)
    "shrink": ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 96}, "volumes can only grow", "shrink"),
    "unknown_volume": ({"volume_id": UNKNOWN_VOLUME, "new_size_gb": 104}, "No volume", None),
    "human_required": (
        {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104},
        "requires a human to confirm",
        "human_required",
    ),
    "quota": ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 1032}, "per-volume quota of 1024 GB", "quota"),
    "state": ({"volume_id": VOLUMES["broken-error"], "new_size_gb": 40}, 'the volume is "error"', "state"),
    "in_progress": (
        {"volume_id": VOLUMES["busy-extending"], "new_size_gb": 56},
        "already in progress",
        "in_progress",
    ),
}
UNCHANGED = {"volume_id": VOLUMES["data-available"], "new_size_gb": 64}
"""Not a refusal: a result the clients check against the schema as before (every success field required)."""
CLIENTS = ("ts-sdk-v1", "ts-sdk-v2", "inspector-cli")


@dataclass(frozen=True)
class Shown:
    """What one client made of one call: the result's text, or the message of what it threw instead."""

    is_error: bool | None
    text: str | None
    structured: dict[str, Any] | None
    thrown: str | None

    @property
    def seen(self) -> str:
        return self.thrown if self.thrown is not None else self.text or ""


def _installed_version(modules: Path, package: str) -> str | None:
    try:
        return str(json.loads((modules / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _install(folder: Path) -> dict[str, str]:
    """The clients in `folder`'s node_modules (installed when missing, one process at a time); their versions."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        modules = folder / "node_modules"
        versions = {p: _installed_version(modules, p) for p in PACKAGES}
        if any(v is None or v.split(".")[0] != PACKAGES[p] for p, v in versions.items()):
            (folder / "package.json").write_text(json.dumps({"private": True}))
            wanted = [f"{package}@{major}" for package, major in PACKAGES.items()]
            try:
                done = subprocess.run(
                    [*NPM_INSTALL, *wanted],
                    cwd=folder,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_BUDGET_S,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm could not install the TypeScript clients within {INSTALL_BUDGET_S:.0f} s")
            if done.returncode != 0:
                said = done.stderr.strip().splitlines()[:3]
                pytest.skip(f"npm could not install the TypeScript clients (is the registry reachable?): {said}")
            versions = {p: _installed_version(modules, p) for p in PACKAGES}
    return {p: v or "?" for p, v in versions.items()}


@pytest.fixture(scope="module")
def ts_clients() -> Path:
    """A folder holding the clients' scripts beside a node_modules with the clients (from the cache)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the TypeScript clients cannot run")
    default = Path.home() / ".cache" / "scp-volume-mcp" / "ts-clients"
    cache = Path(os.environ.get("SCP_MCP_TS_CLIENTS_DIR") or default)
    versions = _install(cache)
    print("TypeScript clients:", ", ".join(f"{p} {v}" for p, v in versions.items()))
    return cache


@pytest.fixture
def client_folder(ts_clients: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "clients"
    folder.mkdir()
    (folder / "node_modules").symlink_to(ts_clients / "node_modules")
    for script in SCRIPTS.glob("*.mjs"):
        shutil.copy(script, folder)
    return folder


@pytest.fixture
def refusing_emulator(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator with a per-volume quota of 1024 GB, so that 1032 GB is the quota's refusal."""
    emulator.state.settings.per_volume_limit_gb = 1024
    yield emulator
    assert not emulator.state.requests("PUT"), "a refusal sent a resize"


def _server_env(emulator: EmulatorServer) -> dict[str, str]:
    # Every call confirms with the flag; a human is required and none can be asked: a valid request is
    # refused as human_required, and the others are refused by the live check before that.
    return scp_env(emulator, SCP_CONFIRMATION="human", XDG_STATE_HOME=os.environ["XDG_STATE_HOME"])


def _calls() -> list[dict[str, Any]]:
    arguments = {case: arguments for case, (arguments, _, _) in CASES.items()} | {"unchanged": UNCHANGED}
    return [
        {"case": case, "name": "extend_volume", "arguments": {**arguments, "confirm": True}}
        for case, arguments in arguments.items()
    ]


def _run_ts_sdk(folder: Path, sdk: str, target: dict[str, Any]) -> dict[str, Shown]:
    spec = folder / f"spec-{sdk}.json"
    spec.write_text(json.dumps({**target, "calls": _calls()}))
    done = subprocess.run(
        ["node", "call_tools.mjs", sdk, str(spec)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=CALL_BUDGET_S,
    )
    assert done.returncode == 0, f"the {sdk} client failed: {done.stderr[-2000:]}"
    shown = {}
    for line in done.stdout.splitlines():
        answer = json.loads(line)
        shown[answer["case"]] = Shown(answer["is_error"], answer["text"], answer["structured"], answer["thrown"])
    return shown


def _run_inspector(folder: Path, target: list[str]) -> dict[str, Shown]:
    """One Inspector CLI run per call, as a person runs it. With `--format json --quiet` it prints
    `{"result": ...}` on stdout (exit 5 when the result is an error), or `{"error": {"message"}}` on stderr when
    the call itself failed."""
    launcher = folder / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build"
    home = folder / "home"  # the Inspector keeps a catalog and secrets under $HOME: not the user's
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "MCP_CATALOG_PATH": str(home / "mcp.json")}
    shown = {}
    for call in _calls():
        done = subprocess.run(
            [
                *("node", str(launcher / "index.js"), "--cli", *target, "--method", "tools/call"),
                *("--tool-name", call["name"], "--tool-args-json", json.dumps(call["arguments"])),
                *("--format", "json", "--quiet"),
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=CALL_BUDGET_S,
        )
        result = _json_object(done.stdout).get("result")
        if isinstance(result, dict) and "content" in result:
            text = "\n".join(block.get("text", "") for block in result["content"])
            shown[call["case"]] = Shown(bool(result.get("isError")), text, result.get("structuredContent"), None)
        else:
            error = _json_object(done.stderr).get("error")
            message = error.get("message") if isinstance(error, dict) else None
            shown[call["case"]] = Shown(None, None, None, message or f"exit {done.returncode}: {done.stderr[-2000:]}")
    return shown


def _json_object(printed: str) -> dict[str, Any]:
    """The JSON object a CLI printed as its last line; empty when there is none."""
    lines = printed.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else None
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _stdio_target(emulator: EmulatorServer) -> dict[str, Any]:
    return {"stdio": {"command": SCRIPT, "args": ["serve"], "env": _server_env(emulator)}}


def _shown(client: str, folder: Path, emulator: EmulatorServer, transport: str) -> dict[str, Shown]:
    if transport == "stdio":
        if client == "inspector-cli":  # the server's settings by `env`: the Inspector stores `-e` values as secrets
            assignments = [f"{key}={value}" for key, value in _server_env(emulator).items()]
            return _run_inspector(folder, ["--transport", "stdio", "env", *assignments, SCRIPT, "serve"])
        return _run_ts_sdk(folder, client.removeprefix("ts-sdk-"), _stdio_target(emulator))
    with http_server(emulator, SCP_CONFIRMATION="human") as url:
        if client == "inspector-cli":
            return _run_inspector(folder, ["--transport", "http", url])
        return _run_ts_sdk(folder, client.removeprefix("ts-sdk-"), {"url": url})


@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("client", CLIENTS)
def test_every_refusal_reaches_the_user(
    client_folder: Path, refusing_emulator: EmulatorServer, client: str, transport: str
) -> None:
    shown = _shown(client, client_folder, refusing_emulator, transport)
    report = "\n".join(f"{case}: {answer.seen[:300]!r}" for case, answer in shown.items())
    print(f"{client} over {transport}:\n{report}")
    assert list(shown) == [*CASES, "unchanged"], report
    for case, answer in shown.items():
        assert not any(e in answer.seen for e in SCHEMA_ERRORS), f"{case}: a schema error instead\n{report}"
        assert answer.thrown is None, f"{case}: the client threw\n{report}"
    for case, (_, reason, code) in CASES.items():
        answer = shown[case]
        assert answer.is_error, f"{case}: not an error result\n{report}"
        assert reason in answer.seen, f"{case}: the reason did not reach the user\n{report}"
        if code is not None:  # the typed refusal reaches a client that reads it
            assert answer.structured is not None, f"{case}: no structured content\n{report}"
            assert answer.structured["outcome"] == "refused", f"{case}: {answer.structured}"
            assert code in answer.structured["reasons"], f"{case}: {answer.structured}"
            assert answer.structured["message"] == answer.text
    unchanged = shown["unchanged"]
    assert unchanged.structured is not None, report
    assert (unchanged.is_error, unchanged.structured["outcome"]) == (False, "unchanged"), report

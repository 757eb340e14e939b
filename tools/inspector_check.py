"""Drive the server with the official MCP Inspector CLI: list its tools, call get_volume on the emulator.

    python tools/inspector_check.py

Exits 0 when both work, 1 when not; when Node.js (npx) is missing it says so and exits 0 (skipped).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

INSPECTOR = "@modelcontextprotocol/inspector@2"


def _inspect(npx: str, url: str, *method: str) -> Any:
    env = ["-e", f"SCP_ENDPOINT={url}", "-e", f"SCP_ACCESS_KEY={EMULATOR_ACCESS_KEY}",
           "-e", f"SCP_SECRET_KEY={EMULATOR_SECRET_KEY}"]  # fmt: skip
    server = [sys.executable, "-m", "scp_volume_mcp", "serve"]
    done = subprocess.run(
        [npx, "-y", INSPECTOR, "--cli", *env, *server, "--method", *method],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"inspector-check: the Inspector failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> int:
    npx = shutil.which("npx")
    if npx is None:
        print("inspector-check: skipped, Node.js (npx) is not installed; the MCP Inspector CLI needs it.")
        return 0
    with EmulatorServer() as emulator:
        listed = _inspect(npx, emulator.url, "tools/list")
        names = [tool["name"] for tool in listed["tools"]]
        called = _inspect(
            npx, emulator.url, "tools/call", "--tool-name", "get_volume", "--tool-arg", f"volume_id={EXAMPLE_VOLUME_ID}"
        )
        reads = [e for e in emulator.state.journal if e.route == "show" and e.signature_valid]
    problems = []
    if names != ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]:
        problems.append(f"unexpected tools: {names}")
    if called.get("isError") or called.get("structuredContent", {}).get("name") != "volume01":
        problems.append(f"get_volume did not return volume01: {called}")
    if len(reads) != 1:
        problems.append(f"expected one signed GET of the volume, the emulator saw {len(reads)}")
    for problem in problems:
        print(f"inspector-check: {problem}")
    if not problems:
        print(f"inspector-check: ok, the Inspector listed {len(names)} tools and called get_volume.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

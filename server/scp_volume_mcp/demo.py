"""`scp-volume-mcp demo`: the whole product against the embedded emulator, with no account and no network.

It starts the emulator on a free loopback port, launches `scp-volume-mcp serve` over stdio exactly as an
MCP client would (with an audit trail of its own in a temporary folder: rehearsed resizes never reach the
user's own trail), and drives a real MCP client through list, plan, a confirmed extension with progress,
and a refused shrink. The extension takes a snapshot first (the way back), and the resize is sent only once the
snapshot is available. The emulator's journal then shows what reached "SCP", in order.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from .emulator import (
    DEFAULT_PORT,
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    EmulatorServer,
    EmulatorSettings,
    EmulatorState,
)
from .scp import EXAMPLE_VOLUME_ID
from .settings import rehearsal_audit_log

EXTEND_SECONDS = 2.0
SNAPSHOT_SECONDS = 1.0


def _say(text: str = "") -> None:
    print(text, flush=True)


def _step(title: str) -> None:
    _say()
    _say(f"== {title}")


async def _drive(endpoint: str, trail: Path) -> int:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "scp_volume_mcp", "serve"],
        env={
            "SCP_ENDPOINT": endpoint,
            "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
            "SCP_SECRET_KEY": EMULATOR_SECRET_KEY,
            "SCP_POLL_INTERVAL": "0.5",
            "SCP_AUDIT_LOG": str(trail),  # the demo's own: the user's trail never sees a rehearsal
        },
    )

    async def human(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        _say(f"   [the server asks the human] {params.message}")
        _say("   [the human answers] yes")
        return ElicitResult(action="accept", content={"confirm": True})

    async def progress(done: float, total: float | None, message: str | None) -> None:
        _say(f"   progress {done:4.1f}/{total or 0:g} s: {message}")

    async with Client(server, elicitation_callback=human) as client:
        tools = await client.list_tools()
        _say(f"Connected over stdio; tools: {', '.join(t.name for t in tools.tools)}")

        async def call(name: str, arguments: dict[str, Any], **kwargs: Any) -> bool:
            _say(f"-> {name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})")
            result = await client.call_tool(name, arguments, **kwargs)
            text = "\n".join(getattr(block, "text", "") for block in result.content)
            prefix = "<- ERROR: " if result.is_error else "<- "
            for line in text.splitlines():
                _say(f"{prefix}{line}")
                prefix = "   "
            return not result.is_error

        _step("1. Find the volume by name")
        ok = await call("list_volumes", {"name": "volume01"})
        _step("2. Plan the extension (read-only)")
        ok &= await call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104})
        _step("3. Extend it, confirmed, with a snapshot first (the way back), and wait for the platform")
        ok &= await call(
            "extend_volume",
            {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True, "wait": True, "snapshot_first": True},
            progress_callback=progress,
        )
        _step("4. Try to shrink it: refused before anything is sent")
        refused = not await call("extend_volume", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 96, "confirm": True})
    return 0 if ok and refused else 1


def client_snippet(endpoint: str = f"http://127.0.0.1:{DEFAULT_PORT}") -> str:
    """A client configuration (the `mcpServers` shape of Claude Desktop and Cursor) that starts this very
    installation's server against the emulator at `endpoint`, with the emulator's keys and the rehearsal audit
    trail (`settings.rehearsal_audit_log`, apart from the user's own): paste-ready."""
    script = Path(sys.executable).with_name("scp-volume-mcp")
    command, args = (str(script), ["serve"]) if script.exists() else (sys.executable, ["-m", "scp_volume_mcp", "serve"])
    env = {"SCP_ENDPOINT": endpoint, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY, "SCP_SECRET_KEY": EMULATOR_SECRET_KEY,
           "SCP_AUDIT_LOG": str(rehearsal_audit_log())}  # fmt: skip
    return json.dumps({"mcpServers": {"scp-volume": {"command": command, "args": args, "env": env}}}, indent=2)


def _rehearse_yourself() -> None:
    _step("Rehearse with your own client")
    _say("   Start the emulator in a terminal (it keeps running):  scp-volume-mcp emulator")
    _say("   and paste this into your client's configuration (claude_desktop_config.json, ~/.cursor/mcp.json):")
    _say(client_snippet())
    _say("   Its SCP_AUDIT_LOG keeps your rehearsals' resizes in a trail of their own, apart from real work.")


def run_demo() -> int:
    trail = Path(tempfile.mkdtemp(prefix="scp-volume-mcp-demo-")) / "audit.jsonl"
    state = EmulatorState(settings=EmulatorSettings(extend_seconds=EXTEND_SECONDS, snapshot_seconds=SNAPSHOT_SECONDS))
    with EmulatorServer(state) as emulator:
        _say(f"Embedded SCP emulator on {emulator.url} (signatures checked, {len(state.all())} volumes).")
        _say(f"The demo's audit trail, apart from your own: {trail}")
        status = anyio.run(_drive, emulator.url, trail)
        puts = state.requests("PUT")
        writes = [e for e in state.journal if e.method != "GET"]
        _step("What reached the emulator")
        _say(f"   {len(state.journal)} signed requests, {sum(not e.signature_valid for e in state.journal)} refused.")
        started = writes[0].time if writes else 0.0
        for entry in writes:
            _say(f"   +{entry.time - started:4.1f} s {entry.method} {entry.path} {entry.body} -> {entry.status}")
        _say("   No PUT for the refused shrink." if len(puts) == 1 else "   Unexpected number of PUTs!")
        in_order = [e.route for e in writes] == ["snapshot", "extend"]
        _say("   The snapshot came first; the resize only once it was available." if in_order else "   Wrong order!")
        status = status or (0 if len(puts) == 1 and in_order else 1)
    _step("What the audit trail recorded")
    _say(f"   The demo kept its own trail, {trail}; your own trail is untouched. Read it with:")
    _say(f"   SCP_AUDIT_LOG={shlex.quote(str(trail))} scp-volume-mcp audit")
    _rehearse_yourself()
    _say()
    _say("Demo finished: " + ("everything behaved." if status == 0 else "something went wrong (see above)."))
    return status

"""Rehearsals stay apart from real work: the demo keeps an audit trail of its own and says where; the emulator's
start-up text and its reset say how rehearsal attempts are kept apart and how one left open is closed (and the
command they give works); `emulator --volumes` refuses an id that is not a UUID."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from scp_volume_mcp.audit.command import read_file
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import default_audit_log, rehearsal_audit_log

DEMO_BUDGET_S = 240.0
"""The demo waits for a snapshot and an extension, each a second or two, and starts a server: minutes under load."""


# --- the demo's own trail -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_leaves_the_users_own_trail_untouched(tmp_path: Path) -> None:
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCP_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(scratch))  # the user's state folder is under HOME; the demo's under TMPDIR
    try:
        done = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "demo"], env=env, capture_output=True,
                              text=True, timeout=DEMO_BUDGET_S)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the demo did not finish within {DEMO_BUDGET_S:g} s; it said: {exc.stdout!r}") from None
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p for p in home.rglob("*") if p.is_file()] == []  # no default trail, nor anything else, in HOME
    [where] = re.findall(r"The demo's audit trail, apart from your own: (\S+)", done.stdout)
    trail = Path(where)
    assert trail.is_relative_to(scratch)
    assert f"SCP_AUDIT_LOG={shlex.quote(where)} scp-volume-mcp audit" in done.stdout
    records = read_file(trail)
    assert {r["phase"] for r in records} >= {"intent", "outcome"}
    assert {r["volume_id"] for r in records} == {EXAMPLE_VOLUME_ID}


@pytest.mark.slow  # importing the demo loads the MCP client
def test_the_client_snippet_points_at_the_rehearsal_trail() -> None:
    from scp_volume_mcp.demo import client_snippet

    [server] = json.loads(client_snippet())["mcpServers"].values()
    trail = Path(server["env"]["SCP_AUDIT_LOG"])
    assert trail == rehearsal_audit_log()
    assert trail != default_audit_log()
    assert trail.parent.is_dir()  # a server refuses a trail whose folder is missing

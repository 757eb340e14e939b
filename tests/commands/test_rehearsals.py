"""Rehearsals stay apart from real work: the demo keeps an audit trail of its own and says where; the emulator's
start-up text and its reset say how rehearsal attempts are kept apart and how one left open is closed (and the
command they give works); `emulator --volumes` refuses an id that is not a UUID."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from scp_volume_mcp import cli
from scp_volume_mcp.audit.command import read_file, run_close
from scp_volume_mcp.audit.open_attempts import PENDING_TTL_S
from scp_volume_mcp.emulator import REHEARSAL_CLOSE, REHEARSAL_TRAIL, EmulatorServer, load_volumes
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


# --- the emulator's words, and the command they give -------------------------------------------------------------


def test_the_reset_says_how_rehearsals_stay_apart_and_how_to_close_an_attempt(emulator: EmulatorServer) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/reset", json={})
    assert answer.status_code == 200
    note = answer.json()["note"]
    assert answer.json()["ok"] is True
    assert "SCP_AUDIT_LOG" in note
    assert "scp-volume-mcp audit --close ATTEMPT_ID" in note
    assert "up to an hour" in note
    assert PENDING_TTL_S == 3600  # the hour the note names


def test_the_emulator_start_up_text_exports_the_rehearsal_trail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "serve_forever", lambda state, host, port: None)
    assert cli._run_emulator(cli._parser().parse_args(["emulator", "--port", "8765"])) == 0
    said = capsys.readouterr().err
    trail = shlex.quote(str(rehearsal_audit_log()))
    assert f"  export SCP_AUDIT_LOG={trail}" in said
    assert REHEARSAL_TRAIL in said
    assert f"SCP_AUDIT_LOG={trail} scp-volume-mcp audit --close ATTEMPT_ID" in said
    assert said.rstrip().endswith("Press Ctrl+C to stop.")


def test_the_close_command_the_emulator_gives_closes_a_rehearsal_attempt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trail = tmp_path / "rehearsal.jsonl"
    intent = {"phase": "intent", "attempt_id": "a" * 32, "time": datetime.now(UTC).isoformat(),
              "volume_id": EXAMPLE_VOLUME_ID, "previous_size_gb": 100, "requested_size_gb": 104,
              "tool": "extend_volume"}  # fmt: skip
    trail.write_text(json.dumps(intent) + "\n")
    [command] = re.findall(
        r"`(SCP_AUDIT_LOG=<the rehearsal file> scp-volume-mcp audit --close [^`]+)`", REHEARSAL_CLOSE
    )
    words = shlex.split(command.replace("<the rehearsal file>", str(trail)).replace("ATTEMPT_ID", "a" * 32))
    assignment, program, *argv = words
    assert program == "scp-volume-mcp"
    name, _, value = assignment.partition("=")
    for variable in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv(name, value)
    args = cli._parser().parse_args(argv)
    err = io.StringIO()
    assert run_close(args.close, reason=args.reason, err=err) == 0, err.getvalue()
    closed = read_file(trail)[-1]
    assert (closed["phase"], closed["detail"]) == ("close", "emulator reset")


# --- emulator --volumes: UUIDs only -------------------------------------------------------------------------------


def test_a_volume_id_that_is_not_a_uuid_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "volumes.json"
    path.write_text(json.dumps([{"id": "my-volume", "size": 16, "state": "available"}]))
    with pytest.raises(ValueError, match="id must be a UUID") as caught:
        load_volumes(path)
    said = str(caught.value)
    assert f"{path}: volume #0 (my-volume): id must be a UUID such as {EXAMPLE_VOLUME_ID}" in said
    assert "\n" not in said
    path.write_text(json.dumps([{"id": EXAMPLE_VOLUME_ID.upper(), "size": 16, "state": "available"}]))
    assert len(load_volumes(path)) == 1  # a UUID in capitals is still one, as the tools take it


def test_emulator_volumes_with_a_bad_id_exits_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "volumes.json"
    path.write_text(json.dumps({"volumes": [{"id": "vol 1\nx", "size": 16, "state": "available"}]}))
    assert cli._run_emulator(cli._parser().parse_args(["emulator", "--volumes", str(path)])) == 2
    said = capsys.readouterr().err
    assert len(said.strip().splitlines()) == 1, said  # not started: no start-up text either
    assert "id must be a UUID" in said

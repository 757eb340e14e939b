"""The command line: help, version, doctor, and logging that never touches stdout."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from scp_volume_mcp import __version__
from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

from ..mcp_server.test_transports import free_port


def _cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
    return subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version() -> None:
    done = _cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"scp-volume-mcp {__version__}")


@pytest.mark.slow
def test_help_answers_the_newcomers_questions() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    for expected in ("serve", "demo", "emulator", "doctor", "SCP_ACCESS_KEY", "~/.scpconf", "--log-format"):
        assert expected in done.stdout
    serve = _cli("serve", "--help")
    for expected in ("--transport", "--read-only", "--confirmation", "/mcp"):
        assert expected in serve.stdout


@pytest.mark.slow
def test_bad_settings_exit_with_the_reason() -> None:
    done = _cli("serve", env={"SCP_CONFIRMATION": "sometimes"})
    assert done.returncode == 2
    assert "SCP_CONFIRMATION must be one of auto, human, flag" in done.stderr


@pytest.fixture
def scp_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", "/nonexistent")
    monkeypatch.setenv("SCP_ENDPOINT", emulator.url)
    monkeypatch.setenv("SCP_ACCESS_KEY", EMULATOR_ACCESS_KEY)
    monkeypatch.setenv("SCP_SECRET_KEY", EMULATOR_SECRET_KEY)
    return emulator


def _doctor() -> tuple[int, str]:
    out = io.StringIO()
    return run_doctor(out), out.getvalue()


def test_doctor_all_good(scp_env: EmulatorServer) -> None:
    status, out = _doctor()
    assert status == 0, out
    assert "[environment SCP_ENDPOINT]" in out
    assert "******** (19 characters)" in out
    assert "a signed read (GET /v1/volumes?limit=1) was accepted" in out
    assert "clock offset from the server" in out
    assert "1.3: current" in out
    assert "snapshot policy optional (SCP_SNAPSHOT_POLICY)" in out
    assert out.rstrip().endswith("All good.")
    assert [e.route for e in scp_env.state.journal] == ["list"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SCP_SECRET_KEY": "wrong"}, "refuses these keys (401"),
        ({"SCP_ENDPOINT": "http://127.0.0.1:{closed}"}, "connection refused by 127.0.0.1:"),
        ({"SCP_API_VERSION": "1.0"}, "no longer supported since 2025-12-31"),
        ({"SCP_AUDIT_LOG": "/nonexistent/dir/audit.jsonl"}, "cannot write the audit log"),
        ({"SCP_ACCESS_KEY": ""}, "No SCP access key found"),
        ({"SCP_SNAPSHOT_POLICY": "sometimes"}, "SCP_SNAPSHOT_POLICY must be one of optional, required, off"),
    ],
)
def test_doctor_names_what_is_wrong_and_the_fix(
    scp_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch, change: dict[str, str], expected: str
) -> None:
    for name, value in change.items():
        monkeypatch.setenv(name, value.format(closed=free_port()))
    status, out = _doctor()
    assert status == 1, out
    assert expected in out
    assert "fix:" in out


def test_doctor_reports_clock_skew(scp_env: EmulatorServer) -> None:
    scp_env.state.settings.clock_offset_s = 300
    status, out = _doctor()
    assert status == 1
    assert "this machine's clock is 300 s behind the server's" in out or "is 299 s behind" in out


@pytest.mark.slow  # a server subprocess
def test_logs_go_to_stderr_as_json_and_stdout_stays_protocol(emulator: EmulatorServer) -> None:
    messages: list[dict[str, object]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "get_volume", "arguments": {"volume_id": EXAMPLE_VOLUME_ID}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "get_volume", "arguments": {"volume_id": "00000000-0000-4000-8000-000000000000"}}},
    ]  # fmt: skip
    env = {"SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY, "SCP_SECRET_KEY": EMULATOR_SECRET_KEY}
    process = subprocess.Popen(
        [sys.executable, "-m", "scp_volume_mcp", "--log-level", "DEBUG", "--log-format", "json", "serve"],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    answers = []
    for message in messages:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:
            answers.append(json.loads(process.stdout.readline()))
    _, stderr = process.communicate(timeout=30)
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[1]["result"]["structuredContent"]["name"] == "volume01"
    assert answers[2]["result"]["isError"] is True
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert records, "DEBUG logging produced nothing"
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["logger"] == "scp_volume_mcp.scp" and "-> 200" in r["message"] for r in records)


@pytest.mark.slow  # a server subprocess each
@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_readable_credentials_are_warned_about_with_the_fix(
    scp_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: int, warned: bool
) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"access-key": EMULATOR_ACCESS_KEY, "secret-key": EMULATOR_SECRET_KEY}))
    credentials.chmod(mode)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("SCP_ACCESS_KEY")
    monkeypatch.delenv("SCP_SECRET_KEY")
    _, out = _doctor()
    assert (f"chmod 600 {credentials}" in out) is warned
    started = subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", "serve"], input="", capture_output=True, text=True, timeout=60
    )
    assert (f"chmod 600 {credentials}" in started.stderr) is warned
    assert EMULATOR_SECRET_KEY not in out + started.stderr


@pytest.mark.parametrize("where", ["/dev/full", "a directory"])
def test_doctor_really_writes_the_audit_log(
    scp_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    monkeypatch.setenv("SCP_AUDIT_LOG", "/dev/full" if where == "/dev/full" else str(tmp_path))
    status, out = _doctor()
    assert status == 1
    assert "cannot write the audit log" in out


def test_doctor_reports_the_audit_logs_free_space(
    scp_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    status, out = _doctor()
    assert status == 0, out
    assert "GiB free" in out
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]  # the scratch file beside it is gone
    assert (tmp_path / "audit.jsonl").read_text() == ""


@pytest.mark.slow
def test_doctor_in_team_mode_checks_the_database_not_a_file(
    scp_env: EmulatorServer, monkeypatch: pytest.MonkeyPatch, team_db: str
) -> None:
    monkeypatch.setenv("SCP_DATABASE_URL", team_db)
    status, out = _doctor()
    assert status == 0, out
    assert "audit trail and volume locks: PostgreSQL" in out
    password = urlsplit(team_db).password
    assert password is None or password not in out
    port = urlsplit(team_db).port
    monkeypatch.setenv("SCP_DATABASE_URL", team_db.replace(f":{port}/", f":{free_port()}/"))
    status, out = _doctor()
    assert status == 1
    assert "check SCP_DATABASE_URL" in out
    assert password is None or password not in out

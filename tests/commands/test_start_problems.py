"""`serve` says at start, on stderr and one line each, every problem it can already see, names `doctor`, and
starts anyway: no keys, an endpoint ending in /v1, plain http off loopback, a retired API version, OAuth
variables on stdio. `doctor` reports the same problems in the same words (one place decides each)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.settings import start_problems

SECRET = "Start-Secret-Value-9431"
OAUTH_SECRET = "OAuth-Client-Secret-5521"
DOCTOR = "scp-volume-mcp doctor"
SERVE_BUDGET_S = 60.0
"""How long `serve` may take to start, meet EOF on stdin and exit (a loaded 2-core machine needs several s)."""

# (what is wrong, the environment that makes it so, the words that must say it)
CASES = {
    "no keys": ({"SCP_ACCESS_KEY": "", "SCP_SECRET_KEY": ""}, "No SCP access key and secret key found"),
    "endpoint ends in /v1": ({"SCP_ENDPOINT": "https://vs.example.test/v1"}, "ends in /v1"),
    "plain http off loopback": (
        {"SCP_ENDPOINT": "http://vs.example.test"},
        "uses plain http on a non-loopback address",
    ),
    "retired API version": ({"SCP_API_VERSION": "1.0"}, "no longer supported since 2025-12-31"),
    "OAuth on stdio": (
        {"SCP_MCP_OAUTH_ISSUER": "https://id.example.test", "SCP_MCP_OAUTH_CLIENT_SECRET": OAUTH_SECRET},
        "OAuth applies to `serve --transport http` only",
    ),
}


def _env(config_dir: Path, **changes: str) -> dict[str, str]:
    """A clean environment with nothing wrong: keys, an https endpoint (never called), a private trail."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
    return {**base, "SCP_CONFIG_DIR": str(config_dir), "SCP_ENDPOINT": "https://vs.example.test",
            "SCP_ACCESS_KEY": "access-key", "SCP_SECRET_KEY": SECRET,
            "SCP_AUDIT_LOG": str(config_dir / "audit.jsonl"), **changes}  # fmt: skip


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`scp-volume-mcp serve` over stdio with stdin at EOF: it starts, finds no client, and exits."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "scp_volume_mcp", "serve"], stdin=subprocess.DEVNULL, capture_output=True,
            text=True, env=env, timeout=SERVE_BUDGET_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"serve did not exit within {SERVE_BUDGET_S:g} s of EOF on stdin; stderr: "
                             f"{exc.stderr!r}") from None  # fmt: skip


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if DOCTOR in line]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_serve_says_each_problem_at_start_names_doctor_and_starts_anyway(tmp_path: Path, case: str) -> None:
    changes, words = CASES[case]
    done = _serve(_env(tmp_path, **changes))
    assert done.returncode == 0, done.stderr  # started, served nobody, exited at EOF
    assert done.stdout == ""  # stdout is the protocol's
    [line] = _problem_lines(done.stderr)
    assert words in line
    assert "Starting anyway" in line
    assert SECRET not in done.stderr
    assert OAUTH_SECRET not in done.stderr


@pytest.mark.slow
def test_several_problems_are_one_line_each(tmp_path: Path) -> None:
    changes = {"SCP_ACCESS_KEY": "", "SCP_SECRET_KEY": "", "SCP_ENDPOINT": "https://vs.example.test/v1",
               "SCP_API_VERSION": "1.0", "SCP_MCP_OAUTH_ISSUER": "https://id.example.test"}  # fmt: skip
    done = _serve(_env(tmp_path, **changes))
    assert done.returncode == 0, done.stderr
    lines = _problem_lines(done.stderr)
    assert len(lines) == 4, done.stderr
    for words in ("No SCP access key", "ends in /v1", "no longer supported", "OAuth applies"):
        assert sum(words in line for line in lines) == 1, (words, lines)


@pytest.mark.slow
def test_nothing_wrong_says_nothing_and_keys_from_the_credentials_file_count(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"access-key": "access-key", "secret-key": SECRET}))
    credentials.chmod(0o600)
    done = _serve(_env(tmp_path, SCP_ACCESS_KEY="", SCP_SECRET_KEY=""))
    assert done.returncode == 0, done.stderr
    assert _problem_lines(done.stderr) == []
    assert SECRET not in done.stderr


@pytest.mark.slow
def test_json_logs_stay_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scp_volume_mcp", "--log-format", "json", "serve"], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, env=_env(tmp_path, SCP_API_VERSION="1.0"), timeout=SERVE_BUDGET_S,
    )  # fmt: skip
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    [problem] = [r for r in records if DOCTOR in r["message"]]
    assert problem["level"] == "warning"
    assert "no longer supported" in problem["message"]


@pytest.mark.parametrize("case", CASES)
def test_start_problems_see_each_case(tmp_path: Path, case: str) -> None:
    changes, words = CASES[case]
    [problem] = start_problems(_env(tmp_path, **changes))
    assert words in problem
    assert "\n" not in problem


def test_oauth_over_http_is_no_start_problem(tmp_path: Path) -> None:
    env = _env(tmp_path, SCP_MCP_OAUTH_ISSUER="https://id.example.test")
    assert start_problems(env, transport="http") == []
    assert start_problems(_env(tmp_path)) == []


@pytest.mark.parametrize("case", [c for c in CASES if c != "OAuth on stdio"])  # doctor does not know the transport
def test_doctor_reports_what_serve_says_in_the_same_words(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, case: str
) -> None:
    working = {"SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
               "SCP_SECRET_KEY": EMULATOR_SECRET_KEY}  # fmt: skip
    env = _env(tmp_path, **{**working, **CASES[case][0]})
    [said] = start_problems(env)
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    assert run_doctor(out) == 1
    failed = [line.split("FAIL", 1)[1].strip() for line in out.getvalue().splitlines() if "FAIL" in line]
    assert any(said.rstrip(".").startswith(line.rstrip(".")) for line in failed), (said, failed)


def test_doctor_reports_missing_keys_and_a_v1_endpoint_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SCP_ENDPOINT", "https://vs.example.test/v1")
    monkeypatch.setenv("SCP_API_VERSION", "1.0")
    out = io.StringIO()
    assert run_doctor(out) == 1
    report = out.getvalue()
    assert "No SCP access key and secret key found" in report
    assert "ends in /v1" in report
    assert "no longer supported since 2025-12-31" in report  # checked without keys too
    assert report.rstrip().endswith("3 problems found.")

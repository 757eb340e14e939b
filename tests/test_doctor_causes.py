"""`doctor` tells the cause: the database's own error in its FAIL line (a real PostgreSQL refusing a wrong
password), the OAuth issuer's metadata and keys fetched and checked, and a policy file without a rule named as
such."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer

AUDIENCE = "http://127.0.0.1:8000/mcp"


@pytest.fixture
def doctor_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Everything fine: the emulator, its keys, a private trail; each test breaks one thing."""
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SCP_ENDPOINT", emulator.url)
    monkeypatch.setenv("SCP_ACCESS_KEY", EMULATOR_ACCESS_KEY)
    monkeypatch.setenv("SCP_SECRET_KEY", EMULATOR_SECRET_KEY)
    monkeypatch.setenv("SCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return monkeypatch


def _doctor(expected_status: int) -> str:
    out = io.StringIO()
    status = run_doctor(out)
    assert status == expected_status, out.getvalue()
    return out.getvalue()


def _failures(out: str) -> list[tuple[str, str]]:
    """(what failed, its fix) for every FAIL line."""
    lines = out.splitlines()
    return [(line.split("FAIL", 1)[1].strip(), lines[i + 1].split("fix:", 1)[1].strip())
            for i, line in enumerate(lines) if line.startswith("  FAIL")]  # fmt: skip


# --- the database's own words --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_wrong_database_password_is_named_by_the_database(doctor_env: pytest.MonkeyPatch, database_url: str) -> None:
    parts = urlsplit(database_url)
    right = parts.password
    assert right, "the test cluster has a password"
    wrong = "Wrong-Passw0rd-7312"
    netloc = f"{parts.username}:{wrong}@{parts.hostname}:{parts.port}"
    doctor_env.setenv("SCP_DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))
    doctor_env.delenv("SCP_AUDIT_LOG")
    out = _doctor(1)
    [(what, fix)] = _failures(out)
    assert f'password authentication failed for user "{parts.username}"' in what
    assert "not reachable" not in what
    assert "password in SCP_DATABASE_URL" in fix
    assert wrong not in out
    assert right not in out


# --- a policy file without a rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("", "is empty"),
        ("\n   \n", "is empty"),
        ("# limits to come\n# max_size_gb = 4096\n", "holds only comments"),
        ("[limits]\n\n[approval]\n", "sets no rules"),
    ],
)
def test_a_policy_file_without_rules_is_named_as_such(
    doctor_env: pytest.MonkeyPatch, tmp_path: Path, content: str, named: str
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(content)
    doctor_env.setenv("SCP_POLICY_FILE", str(policy))
    out = _doctor(0)  # a warning: the server runs with it, as without a file
    [line] = [line for line in out.splitlines() if "SCP_POLICY_FILE" in line]
    assert line.startswith("  warn")
    assert f"team policy {policy} (SCP_POLICY_FILE) {named}" in line
    assert "no limits and no approval rules apply" in line


def test_a_policy_file_with_rules_is_ok(doctor_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("# ours\n[limits]\nmax_size_gb = 4096\n")
    doctor_env.setenv("SCP_POLICY_FILE", str(policy))
    [line] = [line for line in _doctor(0).splitlines() if "SCP_POLICY_FILE" in line]
    assert line.startswith("  ok")

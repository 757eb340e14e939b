"""`doctor` names each failure's cause and one concrete fix; the folder it read; the checks a retired API version
does not hide. Broken config.json / credentials.json: line and column, both files, and no failure when the
environment already gives what the broken file would."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import ScpConfigError, load_config

from ..mcp_server.test_transports import free_port
from ..scp.test_connection_failures import _never_accepting, _untrusted_tls_server

SECRET = "Sup3r-S3cret-Value-42"


@pytest.fixture
def doctor_env(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SCP_ENDPOINT", emulator.url)
    monkeypatch.setenv("SCP_ACCESS_KEY", EMULATOR_ACCESS_KEY)
    monkeypatch.setenv("SCP_SECRET_KEY", EMULATOR_SECRET_KEY)
    return monkeypatch


def _doctor(expected_status: int = 1) -> str:
    out = io.StringIO()
    status = run_doctor(out)
    assert status == expected_status, out.getvalue()
    return out.getvalue()


def _failures(out: str) -> list[tuple[str, str]]:
    """(what failed, its fix) for every FAIL line."""
    lines = out.splitlines()
    return [(line.split("FAIL", 1)[1].strip(), lines[i + 1].split("fix:", 1)[1].strip())
            for i, line in enumerate(lines) if line.startswith("  FAIL")]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "files", "cause", "fix"),
    [
        ({"SCP_ENDPOINT": "ftp://example.test"}, {}, "is not an http(s) URL",
         "set the endpoint (environment SCP_ENDPOINT) to a base URL such as https://virtualserver."),
        ({"SCP_ENDPOINT": "http://127.0.0.1:{closed}"}, {}, "connection refused by 127.0.0.1:",
         "check the port of the endpoint (environment SCP_ENDPOINT)"),
        ({"SCP_ENDPOINT": ""}, {"config.json": '{"auth-url": "https://x",\n "region": }'},
         "is not valid JSON: Expecting value at line 2, column 12", "correct line 2 of"),
        ({"SCP_TIMEOUT": "abc"}, {}, "SCP_TIMEOUT must be a number of seconds",
         "set SCP_TIMEOUT to a number of seconds such as 30, or unset it"),
        ({"SCP_TIMEOUT": "-1"}, {}, "SCP_TIMEOUT must be a positive, finite number of seconds",
         "set SCP_TIMEOUT to a number of seconds such as 30, or unset it"),
        ({"SCP_SECRET_KEY": "wrong"}, {}, "refuses these keys (401",
         "use a valid key pair of this account from the SCP console (access key from environment SCP_ACCESS_KEY, "
         "secret key from environment SCP_SECRET_KEY)"),
        ({"SCP_ENDPOINT": "{emulator}/v1/"}, {}, "ends in /v1; the base URL goes without /v1",
         "set the endpoint (environment SCP_ENDPOINT) to {emulator}"),
    ],
)  # fmt: skip
def test_every_failure_names_its_cause_and_one_concrete_fix(
    doctor_env: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    tmp_path: Path,
    change: dict[str, str],
    files: dict[str, str],
    cause: str,
    fix: str,
) -> None:
    for name, value in change.items():
        doctor_env.setenv(name, value.format(closed=free_port(), emulator=emulator.url))
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    [(what, given)] = _failures(_doctor())
    assert cause in what
    assert given.startswith(fix.format(emulator=emulator.url)), given
    assert "set the missing values" not in given
    assert given not in what  # the fix is not the message again


@pytest.mark.slow
def test_doctor_names_the_connection_failure_and_its_fix(doctor_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    doctor_env.setenv("SCP_ENDPOINT", "https://nonexistent.invalid")
    [(what, fix)] = _failures(_doctor())
    assert "the name nonexistent.invalid could not be resolved" in what
    assert fix.startswith("correct the host name of the endpoint (environment SCP_ENDPOINT)")
    with _untrusted_tls_server(tmp_path) as port:
        doctor_env.setenv("SCP_ENDPOINT", f"https://127.0.0.1:{port}")
        [(what, fix)] = _failures(_doctor())
    assert "TLS handshake" in what
    assert fix.startswith("make this machine trust the server's certificate")
    with _never_accepting() as port:
        doctor_env.setenv("SCP_ENDPOINT", f"http://127.0.0.1:{port}")
        doctor_env.setenv("SCP_TIMEOUT", "0.3")
        [(what, fix)] = _failures(_doctor())
    assert "timed out" in what
    assert fix.startswith("check the network path")


def test_the_header_names_the_folder_read_and_problems_are_counted_in_words(
    doctor_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = _doctor(0)
    assert f"Settings (highest source wins: arguments, environment, {tmp_path}):" in out
    assert "~/.scpconf" not in out
    doctor_env.setenv("SCP_SNAPSHOT_POLICY", "sometimes")
    assert _doctor().rstrip().endswith("\n1 problem found.")
    doctor_env.setenv("SCP_SECRET_KEY", "wrong")
    assert _doctor().rstrip().endswith("\n2 problems found.")


def test_an_endpoint_answering_401_is_reachable_but_refuses_the_keys(doctor_env: pytest.MonkeyPatch) -> None:
    doctor_env.setenv("SCP_SECRET_KEY", SECRET)
    out = _doctor()
    assert "is reachable (it answered HTTP 401)" in out
    assert "refuses these keys (401" in out
    assert SECRET not in out


def test_a_retired_api_version_does_not_hide_the_other_checks(doctor_env: pytest.MonkeyPatch) -> None:
    doctor_env.setenv("SCP_API_VERSION", "1.0")
    out = _doctor()
    [(what, fix)] = _failures(out)
    assert "no longer supported since 2025-12-31" in what
    assert fix.startswith("set SCP_API_VERSION=1.3")
    assert "is reachable" in out
    assert "a signed read (GET /v1/volumes?limit=1) was accepted" in out
    assert "clock offset from the server" in out


# --- config.json / credentials.json ------------------------------------------------------------------


def test_a_broken_credentials_file_names_line_and_column_never_its_content(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text('{\n  "access-key": "ak",\n  "secret-key": "' + SECRET + '"\n  oops\n}')
    with pytest.raises(ScpConfigError) as info:
        load_config(env={"SCP_CONFIG_DIR": str(tmp_path), "SCP_ENDPOINT": "https://x.test"})
    assert f"{tmp_path / 'credentials.json'} is not valid JSON: Expecting ',' delimiter at line 4, column 3" in str(
        info.value
    )
    assert SECRET not in str(info.value)
    assert info.value.fix is not None
    assert SECRET not in info.value.fix


def test_both_broken_files_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{")
    (tmp_path / "credentials.json").write_text('{"secret-key": "' + SECRET + '",}')
    with pytest.raises(ScpConfigError) as info:
        load_config(env={"SCP_CONFIG_DIR": str(tmp_path)})
    assert str(tmp_path / "config.json") in str(info.value)
    assert str(tmp_path / "credentials.json") in str(info.value)
    assert SECRET not in str(info.value)


def test_a_broken_file_the_environment_makes_unnecessary_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "credentials.json").write_text('{"secret-key": "' + SECRET + '",}')
    (tmp_path / "config.json").write_text("{")
    env = {"SCP_CONFIG_DIR": str(tmp_path), "SCP_ACCESS_KEY": "ak", "SCP_SECRET_KEY": "sk",
           "SCP_ENDPOINT": "https://x.test"}  # fmt: skip
    config = load_config(env=env)
    assert (config.access_key, config.endpoint) == ("ak", "https://x.test")
    [config_warning, credentials_warning] = config.warnings
    assert str(tmp_path / "config.json") in config_warning
    assert "give SCP_ENDPOINT" in config_warning
    assert str(tmp_path / "credentials.json") in credentials_warning
    assert "give SCP_ACCESS_KEY and SCP_SECRET_KEY" in credentials_warning
    assert credentials_warning in caplog.text
    assert SECRET not in caplog.text
    # Without the endpoint in the environment, the broken config.json still matters.
    with pytest.raises(ScpConfigError, match=r"config\.json is not valid JSON"):
        load_config(env={**env, "SCP_ENDPOINT": ""})


def test_doctor_shows_the_skipped_file(doctor_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text('{"secret-key": "' + SECRET + '",}')
    (tmp_path / "credentials.json").chmod(0o600)
    out = _doctor(0)
    assert "warn" in out
    assert "It was skipped: the arguments or the environment give SCP_ACCESS_KEY and SCP_SECRET_KEY" in out
    assert SECRET not in out


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/V1"])
def test_an_endpoint_ending_in_v1_is_refused_with_the_base_url(suffix: str) -> None:
    with pytest.raises(ScpConfigError, match="the base URL goes without /v1") as info:
        load_config(access_key="ak", secret_key="sk", endpoint="https://vs.example.test" + suffix, env={})
    assert info.value.fix == "set the endpoint (argument) to https://vs.example.test"

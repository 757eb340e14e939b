"""A newcomer's first hour without a wrong turn (issue #21, items 15 to 17): the emulator's volumes file, team
mode without its extra, and the small texts a first run meets."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import select
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from scp_volume_mcp.audit.command import run_audit
from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EmulatorServer, EmulatorSettings, EmulatorState, load_volumes
from scp_volume_mcp.team.database import Database, DatabaseError
from startup_wait import budget

PASSWORD_URL = "postgresql://scp:p@127.0.0.1:1/scp"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCP_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SCP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("SCP_ACCESS_KEY", "access-key")
    monkeypatch.setenv("SCP_SECRET_KEY", "s")
    return monkeypatch


@pytest.fixture
def without_team_extra(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    clean_env.setitem(sys.modules, "psycopg_pool", None)
    clean_env.setenv("SCP_DATABASE_URL", PASSWORD_URL)
    return clean_env


# --- 16. team mode without the team extra, and with the database down ---------------------------------


def test_doctor_without_the_team_extra_says_how_to_install_it(without_team_extra: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    assert run_doctor(out) == 1
    report = out.getvalue()
    assert 'pip install "scp-volume-mcp[team]"' in report
    assert 'pip install ".[team]"' in report
    assert "****syco" not in report
    assert "check SCP_DATABASE_URL" not in report


def test_audit_without_the_team_extra_says_how_to_install_it(without_team_extra: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    assert run_audit(volume_id=None, since=None, as_json=False, out=io.StringIO(), err=err) == 2
    assert 'pip install "scp-volume-mcp[team]"' in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1


def test_serve_without_the_team_extra_says_how_to_install_it(
    without_team_extra: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    server = build_server(ServerSettings.from_env())
    anyio.run(server.app_state.start)
    anyio.run(server.app_state.aclose)
    assert 'pip install "scp-volume-mcp[team]"' in caplog.text
    assert "****syco" not in caplog.text


def test_the_password_is_masked_where_the_url_shows_not_in_other_words() -> None:
    database = Database(PASSWORD_URL)
    said = database.safe(ModuleNotFoundError("No module named 'psycopg_pool'"))
    assert said == "No module named 'psycopg_pool'"
    assert database.safe(RuntimeError(f"cannot reach {PASSWORD_URL}")) == (
        "cannot reach postgresql://scp:****@127.0.0.1:1/scp"
    )
    assert "hunter2" not in database.safe(RuntimeError("dsn host=db password=hunter2 user=scp"))


@pytest.mark.slow
def test_a_database_that_is_down_gets_one_line_per_retry_window(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def start() -> None:
        database = Database(PASSWORD_URL, lock_timeout_s=1)
        try:
            with pytest.raises(DatabaseError):
                await database.start(timeout_s=3)
        finally:
            await database.aclose()

    anyio.run(start)
    pool = [r for r in caplog.records if r.name.startswith("psycopg.pool")]
    assert len(pool) == 1, [r.getMessage() for r in pool]
    assert "\n" not in pool[0].getMessage()


# --- 15. the emulator's volumes file ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[{", "not valid JSON"),
        ('[{"id": "v1", "size": 10}]', "volume #0 (v1): missing state"),
        ('[{"id": "v1", "size": "ten", "state": "available"}]', "volume #0 (v1): size must be"),
        ('[{"id": "v1", "size": 10, "state": "available", "sise": 12}]', "volume #0 (v1): unknown key sise"),
        (
            '{"volumes": [{"id": "0b5e7c1a-2f3d-4e6b-9a8c-1d2e3f4a5b60", "size": 16, "state": "available"}, 7]}',
            "volume #1: not an object",
        ),
    ],
)
def test_a_bad_volumes_file_is_one_line_naming_the_entry(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "volumes.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"volume|JSON") as caught:
        load_volumes(path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_docs_volumes_example_loads_and_serves(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text()
    example = page.split("<!-- volumes-file -->", 2)[1].split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "volumes.json"
    path.write_text(example)
    volumes = load_volumes(path)
    assert len(volumes) >= 2
    state = EmulatorState(volumes)
    assert {v["id"] for v in state.all()} == {v["id"] for v in json.loads(example)["volumes"]}


# --- 17. the smaller ones -------------------------------------------------------------------------------


def test_emulator_reset_restores_its_settings_too() -> None:
    state = EmulatorState(settings=EmulatorSettings(extend_seconds=1.5))
    with EmulatorServer(state) as emulator:
        url = f"{emulator.url}/_emulator"
        assert httpx.post(f"{url}/settings", json={"extend_seconds": 9, "per_volume_limit_gb": 64}).status_code == 200
        assert httpx.post(f"{url}/reset", json={}).status_code == 200
    assert (state.settings.extend_seconds, state.settings.per_volume_limit_gb) == (
        1.5,
        EmulatorSettings().per_volume_limit_gb,
    )


def test_the_api_version_error_says_its_fix_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SCP_API_VERSION", "0.9")
    out = io.StringIO()
    run_doctor(out)
    assert out.getvalue().count("set SCP_API_VERSION=1.3") == 1, out.getvalue()


def test_audit_on_a_missing_file_says_so(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "audit.jsonl"
    clean_env.setenv("SCP_AUDIT_LOG", str(missing))
    err = io.StringIO()
    assert run_audit(volume_id=None, since=None, as_json=False, out=io.StringIO(), err=err) == 1
    assert "does not exist" in err.getvalue()
    assert str(missing) in err.getvalue()
    assert "0 records" not in err.getvalue()


def test_one_record_and_one_character_are_singular(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    record = {"phase": "outcome", "attempt_id": "a1", "time": "2026-11-27T09:00:00+00:00", "volume_id": "v",
              "previous_size_gb": 100, "requested_size_gb": 104, "outcome": "completed",
              "tool": "extend_volume"}  # fmt: skip
    trail.write_text(json.dumps(record) + "\n")
    clean_env.setenv("SCP_AUDIT_LOG", str(trail))
    err = io.StringIO()
    assert run_audit(volume_id=None, since=None, as_json=False, out=io.StringIO(), err=err) == 0
    assert "(1 record)" in err.getvalue()
    out = io.StringIO()
    run_doctor(out)
    assert "(1 character)" in out.getvalue()
    assert "1 characters" not in out.getvalue()


def test_region_and_environment_are_plural(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("SCP_ENDPOINT")
    out = io.StringIO()
    run_doctor(out)
    assert "region and environment are not set" in out.getvalue()


def test_a_short_token_of_one_character_is_singular() -> None:
    from scp_volume_mcp.http_transport import resolve_token
    from scp_volume_mcp.settings import SettingsError

    with pytest.raises(SettingsError, match="is 1 character long"):
        resolve_token("127.0.0.1", no_auth=False, env={"SCP_MCP_HTTP_TOKEN": "a"})


def test_a_zero_timeout_is_reported_once(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SCP_TIMEOUT", "0")
    out = io.StringIO()
    run_doctor(out)
    assert out.getvalue().count("SCP_TIMEOUT must be") == 1, out.getvalue()


@pytest.mark.slow
def test_a_foreign_host_names_the_setting_and_the_docs_nginx_form_matches(emulator: EmulatorServer) -> None:
    from ..mcp_server.test_transports import http_server

    page = (Path(__file__).resolve().parents[2] / "docs" / "team-and-oauth.md").read_text()
    [allowed] = re.findall(r"each has\s+`SCP_MCP_ALLOWED_HOSTS=([^`]+)`", page)
    assert "proxy_set_header Host $host;" in page  # nginx's $host: the name, without a port
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with http_server(emulator, SCP_MCP_ALLOWED_HOSTS=allowed) as url:
        proxied = httpx.post(url, json=hello, headers={**headers, "Host": allowed})
        foreign = httpx.post(url, json=hello, headers={**headers, "Host": "other.example.com"})
    assert proxied.status_code != 421
    assert foreign.status_code == 421
    assert "SCP_MCP_ALLOWED_HOSTS" in foreign.text
    assert "other.example.com" in foreign.text


@pytest.mark.slow
def test_a_taken_port_shows_only_the_friendly_message() -> None:
    import socket
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "SCP_CONFIG_DIR": "/nonexistent", "SCP_ACCESS_KEY": "a", "SCP_SECRET_KEY": "b",
               "SCP_ENDPOINT": "http://127.0.0.1:1"}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port), "--no-auth"],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Errno" not in done.stderr
    assert "uvicorn" not in done.stderr


@pytest.mark.slow
def test_serve_in_a_terminal_says_it_waits_for_a_client() -> None:
    import pty
    import subprocess

    leader, follower = pty.openpty()
    env = {**os.environ, "SCP_CONFIG_DIR": "/nonexistent", "SCP_ACCESS_KEY": "a", "SCP_SECRET_KEY": "b",
           "SCP_ENDPOINT": "http://127.0.0.1:1"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "scp_volume_mcp", "serve"], stdin=follower, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    said = b""
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + budget(15)  # start-up: grows with the load
        while b"waiting for" not in said and time.monotonic() < deadline:  # no notice: fail, do not hang
            if select.select([process.stderr], [], [], 0.5)[0]:
                said += os.read(process.stderr.fileno(), 4096)
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(leader)
        os.close(follower)
    assert "waiting for an MCP client" in said.decode()


@pytest.mark.slow
def test_the_runbook_snippet_fails_fast_without_a_token(tmp_path: Path) -> None:
    import subprocess

    page = (Path(__file__).resolve().parents[2] / "docs" / "clients.md").read_text()
    [snippet] = re.findall(r"^```python\n(.*?)^```", page, flags=re.MULTILINE | re.DOTALL)
    script = tmp_path / "runbook.py"
    script.write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k != "SCP_MCP_HTTP_TOKEN"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "SCP_MCP_HTTP_TOKEN" in done.stderr


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_demos_client_snippet_reaches_the_emulator(emulator: EmulatorServer) -> None:
    from mcp import Client, StdioServerParameters

    from scp_volume_mcp.demo import client_snippet

    config = json.loads(client_snippet(emulator.url))
    [(name, server)] = config["mcpServers"].items()
    assert name == "scp-volume"
    assert server["env"]["SCP_ENDPOINT"] == emulator.url
    env = {**server["env"], "SCP_CONFIG_DIR": "/nonexistent"}
    async with Client(StdioServerParameters(command=server["command"], args=server["args"], env=env)) as client:
        result = await client.call_tool("list_volumes", {"name": "volume01"})
    assert not result.is_error
    assert "volume01" in str(result.content)

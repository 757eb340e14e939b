"""`doctor` tells the cause: the database's own error in its FAIL line (a real PostgreSQL refusing a wrong
password), the OAuth issuer's metadata and keys fetched and checked, and a policy file without a rule named as
such."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer

from ..mcp_server.test_transports import free_port

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


# --- the OAuth issuer ------------------------------------------------------------------------------------------


class _Issuer:
    """A loopback HTTP server answering each path with a JSON document (404 otherwise)."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = self.path in documents
                data = json.dumps(documents.get(self.path, {"error": "not found"})).encode()
                self.send_response(200 if found else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def issuer() -> Iterator[_Issuer]:
    server = _Issuer()
    yield server
    server.close()


def _rsa_jwk() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "use": "sig", "alg": "RS256"}


def _use_issuer(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("SCP_MCP_OAUTH_ISSUER", url)
    env.setenv("SCP_MCP_OAUTH_AUDIENCE", AUDIENCE)


def test_an_unreachable_issuer_fails_naming_it(doctor_env: pytest.MonkeyPatch) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    _use_issuer(doctor_env, issuer)
    [(what, fix)] = _failures(_doctor(1))
    assert f"the OAuth issuer {issuer} cannot be reached: connection refused" in what
    assert "every client gets 401" in fix


def test_an_issuer_without_a_jwks_uri_fails_naming_it(doctor_env: pytest.MonkeyPatch, issuer: _Issuer) -> None:
    issuer.documents["/.well-known/oauth-authorization-server"] = {"issuer": issuer.url}
    _use_issuer(doctor_env, issuer.url)
    [(what, _)] = _failures(_doctor(1))
    assert f"the OAuth issuer {issuer.url} publishes no metadata with a jwks_uri" in what
    assert "/.well-known/oauth-authorization-server: no jwks_uri" in what
    assert "/.well-known/openid-configuration: HTTP 404" in what


def test_an_issuer_without_signing_keys_fails_naming_it(doctor_env: pytest.MonkeyPatch, issuer: _Issuer) -> None:
    issuer.documents["/.well-known/openid-configuration"] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
    issuer.documents["/jwks"] = {"keys": [{"kty": "RSA", "use": "enc"}]}
    _use_issuer(doctor_env, issuer.url)
    [(what, _)] = _failures(_doctor(1))
    assert f"the OAuth issuer {issuer.url} publishes no signing keys at {issuer.url}/jwks" in what


def test_an_issuer_whose_metadata_names_another_fails(doctor_env: pytest.MonkeyPatch, issuer: _Issuer) -> None:
    issuer.documents["/.well-known/oauth-authorization-server"] = {
        "issuer": "https://other.example.test",
        "jwks_uri": f"{issuer.url}/jwks",
    }
    _use_issuer(doctor_env, issuer.url)
    [(what, fix)] = _failures(_doctor(1))
    assert "naming another issuer ('https://other.example.test')" in what
    assert fix.startswith("set SCP_MCP_OAUTH_ISSUER to the authorization server's issuer URL")


def test_a_working_issuer_shows_its_keys(doctor_env: pytest.MonkeyPatch, issuer: _Issuer) -> None:
    issuer.documents["/.well-known/oauth-authorization-server"] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/k"}
    issuer.documents["/k"] = {"keys": [_rsa_jwk()]}
    _use_issuer(doctor_env, issuer.url)
    doctor_env.setenv("SCP_MCP_OAUTH_CLIENT_SECRET", "Client-Secret-8841")
    out = _doctor(0)
    assert f"OAuth issuer {issuer.url}: 1 signing key at {issuer.url}/k" in out
    assert "over stdio these variables do nothing" in out
    assert "Client-Secret-8841" not in out


def test_oauth_half_set_fails_with_its_own_words(doctor_env: pytest.MonkeyPatch) -> None:
    doctor_env.setenv("SCP_MCP_OAUTH_ISSUER", "https://id.example.test")
    [(what, _)] = _failures(_doctor(1))
    assert "OAuth needs both SCP_MCP_OAUTH_ISSUER and SCP_MCP_OAUTH_AUDIENCE" in what


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

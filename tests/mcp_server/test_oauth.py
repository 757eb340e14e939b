"""OAuth 2.1 over streamable HTTP with real signed JWTs: a test issuer on loopback serves its metadata, its
JWKS (keys rotate) and an introspection endpoint; `scp-volume-mcp serve` runs in a subprocess."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qs

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

from ..mcp_helpers import text
from .test_transports import http_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
AUDIENCE = "https://volumes.example.test/mcp"


class Issuer:
    """An authorization server's public face: metadata, JWKS and introspection, on a loopback port."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.opaque: dict[str, dict[str, Any]] = {}
        self.jwks_fetches = 0
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: Any, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-authorization-server":
                    self._json({"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks",
                                "introspection_endpoint": f"{issuer.url}/introspect"})  # fmt: skip
                elif self.path == "/jwks":
                    issuer.jwks_fetches += 1
                    public = {kid: json.loads(RSAAlgorithm.to_jwk(k.public_key())) for kid, k in issuer.keys.items()}
                    keys = [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"} for kid, jwk in public.items()]
                    self._json({"keys": keys})
                else:
                    self._json({"error": "not found"}, 404)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                claims = issuer.opaque.get(form.get("token", [""])[0])
                self._json(claims or {"active": False})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate(self) -> str:
        kid = uuid.uuid4().hex[:8]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def token(self, subject: str, scope: str, *, kid: str | None = None, audience: str = AUDIENCE, **extra: Any) -> str:
        kid = kid or next(iter(self.keys))
        now = int(time.time())
        claims = {"iss": self.url, "aud": audience, "sub": subject, "scope": scope, "iat": now, "exp": now + 300,
                  "client_id": "runbook", **extra}  # fmt: skip
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    yield server
    server.close()


class OAuthEnv(TypedDict):
    """The OAuth variables; typed by name so that `http_server(emulator, **oauth_env(issuer))` type-checks."""

    SCP_MCP_OAUTH_ISSUER: str
    SCP_MCP_OAUTH_AUDIENCE: str
    SCP_MCP_OAUTH_INTROSPECTION_URL: str


def oauth_env(issuer: Issuer) -> OAuthEnv:
    return OAuthEnv(SCP_MCP_OAUTH_ISSUER=issuer.url, SCP_MCP_OAUTH_AUDIENCE=AUDIENCE,
                    SCP_MCP_OAUTH_INTROSPECTION_URL=f"{issuer.url}/introspect")  # fmt: skip


async def call(url: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await client.call_tool(name, arguments)


async def test_no_token_gets_401_pointing_at_the_resource_metadata(emulator: EmulatorServer, issuer: Issuer) -> None:
    with http_server(emulator, **oauth_env(issuer)) as url:
        base = url.removesuffix("/mcp")
        async with httpx.AsyncClient() as http:
            denied = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            challenge = denied.headers["www-authenticate"]
            wrong_audience = await http.post(
                url, json={}, headers={"Authorization": f"Bearer {issuer.token('eve', 'volumes:read', audience='x')}"}
            )
            metadata = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
    assert denied.status_code == 401
    assert 'resource_metadata="https://volumes.example.test/.well-known/oauth-protected-resource/mcp"' in challenge
    assert wrong_audience.status_code == 401
    assert metadata["resource"] == AUDIENCE
    assert metadata["authorization_servers"] == [issuer.url]
    assert set(metadata["scopes_supported"]) == {"volumes:read", "volumes:extend", "volumes:approve"}


async def test_scopes_per_tool_and_the_subject_in_the_trail(
    emulator: EmulatorServer, issuer: Issuer, tmp_path: Path
) -> None:
    trail = tmp_path / "audit.jsonl"
    with http_server(emulator, SCP_AUDIT_LOG=str(trail), **oauth_env(issuer)) as url:
        reader = issuer.token("alice", "volumes:read")
        looked = await call(url, reader, "get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        assert not looked.is_error
        arguments = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
        refused = await call(url, reader, "extend_volume", arguments)
        assert refused.is_error
        assert "volumes:extend" in text(refused)
        assert emulator.state.requests("PUT") == []

        async with httpx.AsyncClient() as http:  # without volumes:read, nothing at all
            denied = await http.post(
                url, json={}, headers={"Authorization": f"Bearer {issuer.token('mallory', 'volumes:extend')}"}
            )
        assert denied.status_code == 403
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]

        issuer.rotate()  # a key the server has not seen yet: fetched again on the unknown key id
        fresh_kid = list(issuer.keys)[-1]
        fetches = issuer.jwks_fetches
        extender = issuer.token("bob", "volumes:read volumes:extend", kid=fresh_kid)
        done = await call(url, extender, "extend_volume", arguments)
        assert not done.is_error, text(done)
        assert issuer.jwks_fetches == fetches + 1
    [put] = emulator.state.requests("PUT")
    assert put.body == {"size": 104}
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [(r["phase"], r["outcome"], r["caller"], r["client_claimed"]) for r in records] == [
        ("outcome", "refused", "alice", "mcp"),  # a caller without the scope is on record too; nothing was read
        ("intent", None, "bob", "mcp"),
        ("outcome", "completed", "bob", "mcp"),
    ]
    assert records[0]["previous_size_gb"] is None


async def test_opaque_tokens_through_introspection(emulator: EmulatorServer, issuer: Issuer) -> None:
    issuer.opaque["opaque-read-token"] = {"active": True, "sub": "carol", "scope": "volumes:read", "aud": AUDIENCE,
                                          "iss": issuer.url, "exp": int(time.time()) + 300}  # fmt: skip
    issuer.opaque["opaque-other-audience"] = {"active": True, "sub": "dan", "scope": "volumes:read",
                                              "aud": "https://elsewhere.test/mcp"}  # fmt: skip
    with http_server(emulator, **oauth_env(issuer)) as url:
        looked = await call(url, "opaque-read-token", "get_volume", {"volume_id": EXAMPLE_VOLUME_ID})
        assert not looked.is_error
        async with httpx.AsyncClient() as http:
            for token in ("opaque-other-audience", "never-issued"):
                denied = await http.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
                assert denied.status_code == 401


# --- second review: issuers with a trailing slash, odd claims, introspected callers ----------------


def _verifier(env: Mapping[str, object]) -> Any:
    from scp_volume_mcp.oauth import JwtTokenVerifier, OAuthSettings

    settings = OAuthSettings.from_env({name: str(value) for name, value in env.items()})
    assert settings is not None
    return JwtTokenVerifier(settings)


@pytest.mark.anyio
async def test_an_issuer_that_ends_in_a_slash_accepts_its_own_tokens(issuer: Issuer) -> None:
    env = {**oauth_env(issuer), "SCP_MCP_OAUTH_ISSUER": issuer.url + "/"}
    token = await _verifier(env).verify_token(issuer.token("alice", "volumes:read", iss=issuer.url + "/"))
    assert token is not None
    assert token.subject == "alice"


@pytest.mark.anyio
async def test_a_scope_claim_that_is_no_list_or_string_grants_nothing(issuer: Issuer) -> None:
    token = await _verifier(oauth_env(issuer)).verify_token(issuer.token("alice", 5))  # type: ignore[arg-type]
    assert token is not None
    assert token.scopes == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "never"},
        {"nbf": 10**10},
        {"token_type": "refresh_token"},
    ],
)
async def test_introspection_refuses_what_it_cannot_check(issuer: Issuer, claims: dict[str, Any]) -> None:
    issuer.opaque["opaque-1"] = {"active": True, "aud": AUDIENCE, "sub": "bot", "scope": "volumes:read", **claims}
    assert await _verifier(oauth_env(issuer)).verify_token("opaque-1") is None


def test_the_caller_of_an_introspected_token_without_a_subject_is_its_client() -> None:
    from mcp.server.auth.middleware.auth_context import auth_context_var
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken

    from scp_volume_mcp.oauth import caller

    token = AccessToken(token="t", client_id="bot", scopes=[], subject=None)
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        assert caller() == "bot"
    finally:
        auth_context_var.reset(reset)

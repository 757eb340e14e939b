"""OAuth 2.1 for remote use: this server is a resource server (MCP authorization spec, RFC 9728).

- `SCP_MCP_OAUTH_ISSUER`: the authorization server. Its signing keys are found through its metadata
  (RFC 8414 `/.well-known/oauth-authorization-server`, else OpenID `/.well-known/openid-configuration`) and
  its JWKS, cached, and fetched again when a token names an unknown key id (at most every few seconds).
- `SCP_MCP_OAUTH_AUDIENCE`: this server's resource URL; a token must be issued for it (`aud`).
- `SCP_MCP_OAUTH_INTROSPECTION_URL` (optional): opaque (non-JWT) tokens are checked there (RFC 7662), with
  `SCP_MCP_OAUTH_CLIENT_ID` / `SCP_MCP_OAUTH_CLIENT_SECRET` when the endpoint wants client authentication.

Scopes: `volumes:read` for every request, `volumes:extend` for `extend_volume`, `volumes:approve` for
`approve_extension` (with [approval] policy rules). The token's subject is the caller the audit trail
records. Tokens are never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from .jwks import JwksCache, OAuthConfigError, require_secure

if TYPE_CHECKING:
    import httpx
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings

logger = logging.getLogger("scp_volume_mcp")

READ_SCOPE = "volumes:read"
EXTEND_SCOPE = "volumes:extend"
APPROVE_SCOPE = "volumes:approve"
"""Decide a second person's approval request (`approval_tools`); offered only with [approval] policy rules."""
SCOPES = [READ_SCOPE, EXTEND_SCOPE, APPROVE_SCOPE]
ISSUER_ENV = "SCP_MCP_OAUTH_ISSUER"
AUDIENCE_ENV = "SCP_MCP_OAUTH_AUDIENCE"
INTROSPECTION_ENV = "SCP_MCP_OAUTH_INTROSPECTION_URL"
CLIENT_ID_ENV = "SCP_MCP_OAUTH_CLIENT_ID"
CLIENT_SECRET_ENV = "SCP_MCP_OAUTH_CLIENT_SECRET"  # noqa: S105 - a variable's name
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
"""Asymmetric only: a token cannot choose `none` or an HMAC keyed with a public key."""
LEEWAY_S = 30
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class OAuthSettings:
    issuer: str
    audience: str
    introspection_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OAuthSettings | None:
        issuer = env.get(ISSUER_ENV, "").strip()
        audience = env.get(AUDIENCE_ENV, "").strip()
        if not issuer and not audience:
            return None
        if not issuer or not audience:
            raise OAuthConfigError(f"OAuth needs both {ISSUER_ENV} and {AUDIENCE_ENV} (this server's resource URL)")
        introspection = env.get(INTROSPECTION_ENV, "").strip() or None
        for name, url in ((ISSUER_ENV, issuer), (INTROSPECTION_ENV, introspection)):
            if url is not None:
                require_secure(name, url)
        # Kept as configured: a token's `iss` must equal it exactly (Auth0-style issuers end in a slash).
        return cls(issuer, audience, introspection, env.get(CLIENT_ID_ENV) or None,
                   env.get(CLIENT_SECRET_ENV) or None)  # fmt: skip

    def auth_settings(self) -> AuthSettings:

        return AuthSettings(
            issuer_url=AnyHttpUrl(self.issuer),
            resource_server_url=AnyHttpUrl(self.audience),
            required_scopes=[READ_SCOPE],
            validate_token_resource=True,
        )


class JwtTokenVerifier:
    """An `mcp.server.auth.provider.TokenVerifier`: JWTs against the issuer's JWKS (a `jwks.JwksCache`),
    opaque tokens through introspection when configured. Returns None (the SDK answers 401) for anything
    it cannot verify."""

    def __init__(self, settings: OAuthSettings, http: httpx.AsyncClient | None = None) -> None:

        self.settings = settings
        self._http = http
        self.jwks = JwksCache(settings.issuer, self._client)

    def __repr__(self) -> str:
        return f"JwtTokenVerifier(issuer={self.settings.issuer!r}, audience={self.settings.audience!r})"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        return self._http

    async def verify_token(self, token: str) -> AccessToken | None:
        if token.count(".") == 2:
            return await self._verify_jwt(token)
        if self.settings.introspection_url:
            return await self._introspect(token)
        return None

    # --- JWT ----------------------------------------------------------------------------------------

    async def _verify_jwt(self, token: str) -> AccessToken | None:
        import jwt  # OAuth only: PyJWT loads cryptography.x509, about 40 ms of start-up that stdio never needs

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        key = await self.jwks.key(kid if isinstance(kid, str) else None)
        if key is None:
            logger.info("Bearer token refused: no signing key %r at the issuer", str(kid)[:40])
            return None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name] if key.algorithm_name in ALGORITHMS else ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            logger.info("Bearer token refused: %s", exc)
            return None
        return self._access_token(token, claims)

    # --- opaque tokens --------------------------------------------------------------------------------

    async def _introspect(self, token: str) -> AccessToken | None:

        assert self.settings.introspection_url is not None
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            if self.settings.client_id is not None:
                credentials = (self.settings.client_id, self.settings.client_secret or "")
                response = await self._client().post(self.settings.introspection_url, data=form, auth=credentials)
            else:
                response = await self._client().post(self.settings.introspection_url, data=form)
            claims = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            logger.error("Token introspection at %s failed: %s", self.settings.introspection_url, exc)
            return None
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if self.settings.audience not in audiences:
            logger.info("Introspected token refused: issued for %r, not this server", audiences)
            return None
        if claims.get("iss") not in (None, self.settings.issuer):
            return None
        now = time.time()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        for value in (exp, nbf):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                return None  # a time that is not a number cannot be checked
        if (exp is not None and exp < now - LEEWAY_S) or (nbf is not None and nbf > now + LEEWAY_S):
            return None
        if str(claims.get("token_type", "access_token")).lower() in ("refresh_token", "id_token"):
            return None  # not an access token
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: Mapping[str, Any]) -> AccessToken:

        raw = claims.get("scope", claims.get("scp", ""))
        scopes = raw.split() if isinstance(raw, str) else [str(s) for s in raw] if isinstance(raw, list) else []
        subject = claims.get("sub")
        exp = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or subject or "unknown"),
            scopes=scopes,
            expires_at=int(exp) if isinstance(exp, int | float) else None,
            resource=self.settings.audience,
            subject=str(subject) if subject is not None else None,
            claims={"iss": claims.get("iss", self.settings.issuer)},
        )


def current_token() -> AccessToken | None:
    """The verified token of the request being served (None without OAuth, or over stdio)."""

    return get_access_token()


def caller() -> str | None:
    """The authenticated subject of the current request, for the audit trail."""
    token = current_token()
    if token is None:
        return None
    return token.subject or (token.client_id if token.client_id != "unknown" else None)


def person() -> str | None:
    """The token's subject, when it names one: who asks for and who approves a second person's request.
    Never the client id (two devices of one person are two clients, and a shared client is nobody), and never
    an empty subject (which some issuers and introspection answers allow)."""
    token = current_token()
    subject = token.subject.strip() if token is not None and isinstance(token.subject, str) else ""
    return subject or None


def missing_extend_scope() -> bool:
    """True when the request carries an OAuth token without `volumes:extend` (the static token and stdio
    carry none: their access is all or nothing)."""
    token = current_token()
    return token is not None and EXTEND_SCOPE not in token.scopes


def has_approve_scope() -> bool:
    """True only for a request whose OAuth token carries `volumes:approve`: without a token there is no
    person to name, so nothing approves."""
    token = current_token()
    return token is not None and APPROVE_SCOPE in token.scopes


class ResourceMetadataApp:
    """Serve this resource's RFC 9728 metadata with every scope it knows (the SDK's own route lists only the
    scope every request needs, and spells the issuer with a trailing slash), in front of the MCP app."""

    def __init__(self, app: Any, settings: OAuthSettings) -> None:

        self.app = app
        self.path = urlsplit(str(build_resource_metadata_url(AnyHttpUrl(settings.audience)))).path
        self._body = json.dumps(
            {
                "resource": settings.audience,
                "authorization_servers": [settings.issuer],
                "scopes_supported": SCOPES,
                "bearer_methods_supported": ["header"],
                "resource_name": "scp-volume-mcp",
            }
        ).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", b"public, max-age=3600"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self._body if scope["method"] == "GET" else b""})

"""The issuer's signing keys for JWT checks: its JWKS, found through its metadata (RFC 8414, else OpenID),
cached, and fetched again when a token names an unknown key id (at most every few seconds). Also the rule every
OAuth URL meets (https, or plain http on loopback) and its error, shared with `oauth`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import httpx

from .scp import is_loopback_host

if TYPE_CHECKING:
    import httpx
    from jwt import PyJWK

logger = logging.getLogger("scp_volume_mcp")

REFRESH_MIN_INTERVAL_S = 5.0
"""After a fetch that did not find the key asked for, the least wait before the next fetch."""


class OAuthConfigError(ValueError):
    """The OAuth settings are incomplete or unsafe."""


def require_secure(name: str, url: str) -> None:
    """Refuse (`OAuthConfigError`) a URL that is not https://, unless plain http on loopback."""

    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or "")):
        return
    raise OAuthConfigError(f"{name} must be an https:// URL (plain http only on loopback), not {url!r}")


class JwksCache:
    """The issuer's JWKS by key id, fetched with the client `http` gives on first need and on rotation."""

    def __init__(self, issuer: str, http: Callable[[], httpx.AsyncClient]) -> None:
        self.issuer = issuer
        self._http = http
        self._keys: dict[str, PyJWK] = {}
        self._jwks_uri: str | None = None
        self._missed_at = float("-inf")
        self._refresh_lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"JwksCache(issuer={self.issuer!r})"

    async def key(self, kid: str | None) -> PyJWK | None:
        """The signing key named `kid` (without a `kid`, the issuer's only key), or None when it has none."""
        if kid in self._keys or (kid is None and len(self._keys) == 1):
            return self._keys[kid] if kid is not None else next(iter(self._keys.values()))
        async with self._refresh_lock:  # an unknown key id: the issuer may have rotated its keys
            # After a fetch that did not find the key asked for, wait a little before the next one (tokens
            # with made-up key ids must not turn into a stream of requests to the issuer).
            if kid not in self._keys and time.monotonic() - self._missed_at >= REFRESH_MIN_INTERVAL_S:
                await self._refresh()
                if kid not in self._keys:
                    self._missed_at = time.monotonic()
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:

        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover_jwks_uri()
            response = await self._http().get(self._jwks_uri)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError, OAuthConfigError) as exc:
            logger.error("Cannot fetch the issuer's signing keys from %s: %s", self.issuer, exc)
            return
        import jwt  # OAuth only: PyJWT loads cryptography.x509, about 40 ms of start-up that stdio never needs

        keys: dict[str, PyJWK] = {}
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                parsed = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
            keys[str(entry.get("kid", ""))] = parsed
        self._keys = keys
        logger.info("Loaded %d signing keys from %s", len(keys), self._jwks_uri)

    async def _discover_jwks_uri(self) -> str:

        issuer = self.issuer.rstrip("/")
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            try:
                response = await self._http().get(issuer + path)
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            metadata = response.json()
            if not isinstance(metadata, dict) or metadata.get("issuer", "").rstrip("/") != issuer:
                raise OAuthConfigError(f"the metadata at {issuer}{path} names another issuer")
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str):
                require_secure("jwks_uri", jwks_uri)
                return jwks_uri
        raise OAuthConfigError(f"no authorization server metadata with a jwks_uri at {issuer}")

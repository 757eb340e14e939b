"""Whether an OAuth issuer is usable by the server: its metadata found where `jwks.JwksCache` looks, naming
the issuer, with a `jwks_uri` whose keys the server can verify tokens with. For `doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .jwks import OAuthConfigError, require_secure
from .messages import plural
from .oauth import HTTP_TIMEOUT_S, ISSUER_ENV
from .scp._errors import connection_failure

_METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
"""Where the server's `jwks.JwksCache` looks for the issuer's metadata, in this order."""


@dataclass(frozen=True)
class IssuerVerdict:
    line: str
    fix: str | None = None
    """None: the issuer is usable."""


async def check_issuer(issuer: str) -> IssuerVerdict:
    """The issuer's metadata and signing keys fetched as the server fetches them (`jwks.JwksCache`)."""
    until = "until the server can fetch its signing keys, every client gets 401"
    fix = f"set {ISSUER_ENV} to the authorization server's issuer URL, exactly as its tokens' iss; {until}"
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as http:
        jwks_uri, why, reached = await _metadata(http, issuer, HTTP_TIMEOUT_S)
        if not reached:
            unreachable = f"check {ISSUER_ENV} and the network path to it (a proxy: HTTPS_PROXY); {until}"
            return IssuerVerdict(f"the OAuth issuer {issuer} cannot be reached: {why}", unreachable)
        if jwks_uri is None:
            return IssuerVerdict(f"the OAuth issuer {issuer} {why}", fix)
        try:
            require_secure("jwks_uri", jwks_uri)
        except OAuthConfigError as exc:
            return IssuerVerdict(f"the OAuth issuer {issuer}: {exc}", fix)
        keys = await _get(http, jwks_uri, HTTP_TIMEOUT_S)
    if isinstance(keys, str) or keys.status_code != 200:
        why = keys if isinstance(keys, str) else f"HTTP {keys.status_code}"
        return IssuerVerdict(f"the OAuth issuer {issuer}'s signing keys cannot be fetched from {jwks_uri}: {why}", fix)
    count = _signing_keys(_json(keys))
    if count == 0:
        return IssuerVerdict(f"the OAuth issuer {issuer} publishes no signing keys at {jwks_uri}", fix)
    return IssuerVerdict(f"OAuth issuer {issuer}: {plural(count, 'signing key')} at {jwks_uri}")


async def _metadata(http: httpx.AsyncClient, issuer: str, timeout_s: float) -> tuple[str | None, str, bool]:
    """(the issuer's `jwks_uri` as `jwks.JwksCache` finds it, else None; why not, in words; whether any metadata
    URL answered at all)."""

    base, said, reasons = issuer.rstrip("/"), [], []
    for path in _METADATA_PATHS:
        url = base + path
        got = await _get(http, url, timeout_s)
        if isinstance(got, str):
            reasons.append(got)
            said.append(f"{url}: {got}")
            continue
        metadata = _json(got)
        if not isinstance(metadata, dict):
            said.append(f"{url}: " + (f"HTTP {got.status_code}" if got.status_code != 200 else "not a JSON object"))
            continue
        named = metadata.get("issuer")
        if not isinstance(named, str) or named.rstrip("/") != base:
            return None, f"has metadata at {url} naming another issuer ({str(named)[:120]!r}), not {ISSUER_ENV}'s", True
        jwks_uri = metadata.get("jwks_uri")
        if isinstance(jwks_uri, str) and jwks_uri:
            return jwks_uri, "", True
        said.append(f"{url}: no jwks_uri")
    if len(reasons) == len(_METADATA_PATHS):
        return None, "; ".join(dict.fromkeys(reasons)), False
    return None, f"publishes no metadata with a jwks_uri ({'; '.join(said)})", True


async def _get(http: httpx.AsyncClient, url: str, timeout_s: float) -> httpx.Response | str:
    """The answer, or why there is none, in words (as doctor says it for the SCP endpoint)."""

    try:
        return await http.get(url)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        parts = urlsplit(url)
        return connection_failure(exc, parts.hostname or "", parts.port)[1]


def _json(response: httpx.Response) -> object:
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _signing_keys(document: object) -> int:
    """How many keys of a JWKS the server can verify tokens with (as `jwks.JwksCache` reads them)."""
    import jwt  # OAuth only: PyJWT loads cryptography.x509, about 40 ms of start-up that stdio never needs

    entries = document.get("keys", []) if isinstance(document, dict) else []
    count = 0
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
        count += 1
    return count

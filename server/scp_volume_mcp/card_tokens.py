"""Single-use tokens for the confirmation card's buttons (`mcp_tools.card`).

The card's app-only tool is hidden from the model by the host, but visibility is not access control: the tool
acts only on a token that this process issued with the plan the person is looking at. A token names the volume,
the size it had and the size asked for, and the MCP session it was shown in; it expires in minutes and is used
once. It travels only in the tool result's `_meta` (for the card), never in the text or the structured content
the model reads.

A token is an HMAC (SHA-256) over its claims with a key made at start, so it can be checked without storing it;
the nonces of used tokens are kept until they expire. The key is per process: a card is answered by the server
that showed it (stdio, or HTTP with sessions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import weakref
from dataclasses import dataclass

TOKEN_TTL_S = 300.0
"""How long a card's buttons work after the plan was shown."""


@dataclass(frozen=True)
class CardGrant:
    """What a valid token lets the card do: grow `volume_id` from `current_gb` to `target_gb`."""

    volume_id: str
    current_gb: int
    target_gb: int


class CardTokenError(Exception):
    """The token cannot be used; the message says why, in words for the person at the card. `grant`: what a
    token this server signed was for (None for one it did not sign)."""

    def __init__(self, message: str, grant: CardGrant | None = None) -> None:
        super().__init__(message)
        self.grant = grant


class CardTokens:
    """Issues and redeems the card's tokens; one per server process."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._key = secrets.token_bytes(32)
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()
        self._sessions: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:  # never the key
        return f"CardTokens(ttl_s={self.ttl_s:g})"

    def session_name(self, session: object) -> str:
        """A random name for a connection's session object, stable while it lives (nothing of it is shown)."""
        with self._lock:
            name = self._sessions.get(session)
            if name is None:
                name = self._sessions[session] = secrets.token_hex(16)
            return name

    def issue(self, grant: CardGrant, session: str) -> tuple[str, float]:
        """A token for `grant` in `session` (see `mcp_tools.card.session_of`), and when it expires (Unix
        time). The session is stored hashed: the token shows nothing of it."""
        expires = time.time() + self.ttl_s
        claims = {"v": grant.volume_id, "c": grant.current_gb, "t": grant.target_gb,
                  "s": self._session_digest(session), "e": round(expires, 3), "n": secrets.token_hex(8)}  # fmt: skip
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._sign(body))}", expires

    def redeem(self, token: str, session: str) -> CardGrant:
        """The grant of a token issued here for this session, not expired and not used before; then it is
        used. Raises `CardTokenError`."""
        body, _, signature = token.partition(".")
        try:
            valid = hmac.compare_digest(_unb64(signature), self._sign(body))
            claims = json.loads(_unb64(body)) if valid else None
        except (ValueError, UnicodeDecodeError):
            claims = None
        if not isinstance(claims, dict):
            raise CardTokenError("this card's token is not one this server issued (it restarts with a new key)")
        grant = CardGrant(str(claims["v"]), int(claims["c"]), int(claims["t"]))  # signed here: its claims hold
        if claims.get("s") != self._session_digest(session):
            raise CardTokenError("this card belongs to another session", grant)
        now = time.time()
        if not isinstance(claims.get("e"), int | float) or claims["e"] <= now:
            raise CardTokenError(f"this card has expired (its buttons work for {self.ttl_s / 60:g} minutes)", grant)
        with self._lock:
            self._used = {nonce: until for nonce, until in self._used.items() if until > now}
            if claims["n"] in self._used:
                raise CardTokenError("this card's buttons were already used", grant)
            self._used[claims["n"]] = float(claims["e"])
        return grant

    def _session_digest(self, session: str) -> str:
        return _b64(self._sign("session:" + session)[:12])

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""SCP v2 request signing, as an `httpx.Auth` flow.

The signature is Base64(HMAC-SHA256(secret, METHOD + URL + TIMESTAMP + ACCESS_KEY + ACCOUNT_ID + "Openapi")),
URL being the absolute URL exactly as it goes on the wire: the algorithm SCP's API guide documents for the
`Scp-Signature` header (Samsung's Go SDK signs the same way).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Generator

import httpx
from pydantic import SecretStr

from ._platform import (
    ACCEPT_LANGUAGE,
    CLIENT_TYPE,
    HEADER_ACCESS_KEY,
    HEADER_CLIENT_TYPE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
)


def signature(method: str, url: str, timestamp: str, access_key: str, secret_key: str, account_id: str = "") -> str:
    """Return the `Scp-Signature` value for one request."""
    message = f"{method.upper()}{url}{timestamp}{access_key}{account_id}{CLIENT_TYPE}"
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class ScpAuth(httpx.Auth):
    """Signs every request; a retried request is signed again with a fresh timestamp."""

    def __init__(self, access_key: str, secret_key: SecretStr, *, clock: Callable[[], float] = time.time) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock

    def __repr__(self) -> str:
        return f"ScpAuth(access_key={self._access_key!r}, secret_key='**********')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = str(int(self._clock() * 1000))
        request.headers[HEADER_ACCESS_KEY] = self._access_key
        request.headers[HEADER_TIMESTAMP] = timestamp
        request.headers[HEADER_CLIENT_TYPE] = CLIENT_TYPE
        request.headers["Accept-Language"] = ACCEPT_LANGUAGE
        request.headers[HEADER_SIGNATURE] = signature(
            request.method, str(request.url), timestamp, self._access_key, self._secret_key.get_secret_value()
        )
        yield request

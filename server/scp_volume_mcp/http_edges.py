"""What an HTTP client meets at the edge, in words that say what to do: a request for a `Host` this server does
not answer to (the SDK's DNS-rebinding protection answers 421 "Invalid Host header") names the value and the
setting that admits it, SCP_MCP_ALLOWED_HOSTS. Drop `ForeignHostExplained` once the SDK lets the 421's text be
set."""

from __future__ import annotations

from typing import Any

from .untrusted_text import clean

ALLOWED_HOSTS_ENV = "SCP_MCP_ALLOWED_HOSTS"


def foreign_host_text(host: str) -> str:
    return (
        f"Invalid Host header: {clean(host, 100).text!r} is not a name this server answers to. If it is yours, add it "
        f"to {ALLOWED_HOSTS_ENV} (comma-separated, exactly as the Host header arrives: a proxy's "
        "`proxy_set_header Host $host` sends the name without a port; `name:*` admits any port)."
    )


class ForeignHostExplained:
    """Rewrites the SDK's 421 answer to a foreign `Host` into `foreign_host_text`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"), "")
        rewriting = False

        async def explained(message: dict[str, Any]) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 421:
                rewriting = True
                body = foreign_host_text(host).encode()
                headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 421, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if rewriting:  # the SDK's own body for the 421: already answered
                return
            await send(message)

        await self.app(scope, receive, explained)

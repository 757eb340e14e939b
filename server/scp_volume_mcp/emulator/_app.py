"""The emulator's HTTP face: signature checks, versions, faults and the journal; routes in `_routes`.

Plain ASGI (no framework routing) so that a fault can start an answer and then drop the
connection, and so that the URL it verifies is rebuilt from the exact bytes it received.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from ..scp import (
    API_SERVICE,
    API_VERSIONS,
    CLIENT_TYPE,
    CURRENT_API_VERSION,
    is_loopback_host,
    signature,
)
from ._faults import Fault
from ._journal import JournalEntry
from ._routes import ADMIN_PREFIX, Answer, Refusal, VolumeRoutes, admin, endpoint_catalog, error_body, route_of
from ._state import EmulatorSettings, EmulatorState

Scope = dict[str, Any]
Receive = Any
Send = Any

_MAX_BODY = 64 * 1024


class EmulatorApp:
    """An ASGI application serving one `EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.routes = VolumeRoutes(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        raw = await self._read_body(receive)
        request_id = f"req-{uuid.uuid4()}"  # the platform's request ids look like this
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            refusal = _foreign_control_request(scope)
            status, body = (403, {"error": refusal}) if refusal else admin(self.state, scope["method"], path, raw)
            await _respond(send, status, json.dumps(body).encode(), request_id)
            return
        self.state.journal.request_started()
        try:
            await self._serve(scope, raw, request_id, send)
        finally:
            self.state.journal.request_finished()

    async def _serve(self, scope: Scope, raw: bytes, request_id: str, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method: str = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        route, volume_id = route_of(method, scope["path"])
        signature_ok = check_signature(self.state.settings, method, scope, headers, raw_path, query)
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fault = self.state.faults.take(route) if signature_ok is True and route != "unknown" else None
        if self.state.settings.latency_s > 0:  # the way to the region and back, before anything is decided
            await asyncio.sleep(self.state.settings.latency_s)
        try:
            if signature_ok is not True:
                raise Refusal(401, "UNAUTHORIZED", signature_ok or "Invalid signature")
            version = self._version(headers.get("scp-api-version"), self.state.settings.accepted_versions)
            if fault is not None and fault.latency_s:
                await asyncio.sleep(fault.latency_s)
            if fault is not None and fault.status is not None:
                if route == "extend" and fault.apply and volume_id:
                    self.routes.extend(volume_id, body, version)
                if route == "snapshot" and fault.apply:
                    self.routes.create_snapshot(body)
                detail = fault.detail if fault.detail is not None else f"Injected fault: status {fault.status}"
                raise Refusal(fault.status, "INJECTED_FAULT", detail)
            if fault is not None and route in ("extend", "snapshot") and fault.apply is False:
                answer = Answer(202, {})  # the answer will be dropped or mangled; nothing was applied
            elif route == "endpoints":
                own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
                answer = Answer(200, endpoint_catalog(self.state.settings, own))
            else:
                answer = self.routes.handle(route, volume_id, body, query, version)
        except Refusal as refusal:
            answer = Answer(refusal.status, error_body(refusal.status, refusal.code, refusal.detail, request_id))
        self.state.journal.record(
            JournalEntry(
                method=method,
                path=scope["path"],
                query=query,
                route=route,
                version_header=headers.get("scp-api-version"),
                body=body,
                signature_valid=signature_ok is True,
                status=answer.status,
                request_id=request_id,
                time=time.time(),
                peer="{}:{}".format(*(scope.get("client") or ("?", "?"))),
            )
        )
        await self._send_answer(send, answer, fault, request_id)

    async def _send_answer(self, send: Send, answer: Answer, fault: Fault | None, request_id: str) -> None:
        payload = json.dumps(answer.body).encode()
        extra: list[tuple[bytes, bytes]] = []
        if fault is not None and answer.status < 400:
            if fault.body is not None:
                payload = json.dumps(fault.body).encode()
            if fault.malformed:
                payload = payload[: max(1, len(payload) // 2)]
        if fault is not None and fault.retry_after is not None:
            extra.append((b"retry-after", str(fault.retry_after).encode()))
        if fault is not None and fault.drop:
            # Promise the whole body, send half, then return: the server closes the connection.
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(payload)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
            return
        await _respond(send, answer.status, payload, request_id, extra, self.state.settings.clock_offset_s)

    # --- checks ---------------------------------------------------------------------------------

    @staticmethod
    def _version(header: str | None, accepted: frozenset[str]) -> str:
        if header is None:
            return max(accepted & set(API_VERSIONS), default=CURRENT_API_VERSION)
        service, _, version = header.strip().partition(" ")
        if service.lower() != API_SERVICE:
            raise Refusal(400, "INVALID_API_VERSION", f"Unsupported Scp-Api-Version {header!r}")
        if version not in accepted:
            # As seen on another SCP service: 406 NoSuchVersion for a version the platform does not (or no
            # longer) serves.
            raise Refusal(406, "NoSuchVersion", f"Unsupported Scp-Api-Version {header!r}: no such version")
        return version

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= _MAX_BODY:
                chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    payload: bytes,
    request_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    clock_offset_s: float = 0.0,
) -> None:
    headers = [
        (b"date", formatdate(time.time() + clock_offset_s, usegmt=True).encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(payload)),
        (b"x-request-id", request_id.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def check_signature(
    settings: EmulatorSettings, method: str, scope: Scope, headers: dict[str, str], raw_path: str, query: str
) -> str | bool:
    """True, or the reason the request is unauthenticated."""
    needed = ("scp-accesskey", "scp-timestamp", "scp-clienttype", "scp-signature")
    missing = [h for h in needed if not headers.get(h)]
    if missing:
        return f"Missing authentication header(s): {', '.join(missing)}"
    if headers["scp-clienttype"] != CLIENT_TYPE:
        return f"Scp-ClientType must be {CLIENT_TYPE}"
    if not hmac.compare_digest(headers["scp-accesskey"], settings.access_key):
        return "Unknown access key"
    timestamp = headers["scp-timestamp"]
    if not timestamp.isdigit():
        return "Scp-Timestamp must be milliseconds since the epoch"
    if settings.timestamp_window_s is not None:
        skew = abs(time.time() + settings.clock_offset_s - int(timestamp) / 1000)
        if skew > settings.timestamp_window_s:
            return f"Request timestamp is {skew:.0f} s away from the server clock"
    host = headers.get("host", "")
    url = f"{scope.get('scheme', 'http')}://{host}{raw_path}" + (f"?{query}" if query else "")
    expected = signature(method, url, timestamp, settings.access_key, settings.secret_key)
    if not hmac.compare_digest(headers["scp-signature"], expected):
        return "Signature does not match"
    return True


def _foreign_control_request(scope: Scope) -> str | None:
    """Why a control request may come from a web page (DNS rebinding, a cross-site form), or None.

    Host must name a loopback address, an Origin (when sent) too, and a POST must say it is JSON: a browser
    cannot send that cross-site without a CORS preflight, which this server never answers."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host", "").rsplit(":", 1)[0]
    if not is_loopback_host(host):
        return f"control routes answer only to a loopback Host, not {host[:64]!r}"
    origin = headers.get("origin")
    if origin is not None and not is_loopback_host(urlsplit(origin).hostname):
        return "control routes refuse cross-origin requests"
    if scope["method"] == "POST" and not headers.get("content-type", "").startswith("application/json"):
        return "control POSTs must be sent as application/json"
    return None

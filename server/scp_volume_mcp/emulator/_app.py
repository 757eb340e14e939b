"""The emulator's HTTP face: the four volume routes, signature checks, versions and faults.

Plain ASGI (no framework routing) so that a fault can start an answer and then drop the
connection, and so that the URL it verifies is rebuilt from the exact bytes it received.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote

from ..consts import (
    API_SERVICE,
    API_VERSIONS,
    CLIENT_TYPE,
    CURRENT_API_VERSION,
    EXTENDABLE_STATES,
    EXTENDING_STATE,
    MIN_VOLUME_SIZE_GB,
    SIZE_STEP_GB,
    VERSIONS_WITH_PERFORMANCE,
)
from ..scp._signing import signature
from ._state import EmulatorState, Fault, JournalEntry

Scope = dict[str, Any]
Receive = Any
Send = Any

_VOLUME = re.compile(r"^/v1/volumes/([^/]+)$")
_EXTEND = re.compile(r"^/v1/volumes/([^/]+)/size$")
_ADMIN_PREFIX = "/_emulator/"
_MAX_BODY = 64 * 1024


class _Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class _Answer:
    status: int
    body: Any


def _route_of(method: str, path: str) -> tuple[str, str | None]:
    if path == "/v1/volumes" and method == "GET":
        return "list", None
    if path == "/v1/volumes/quota-sets" and method == "GET":
        return "quota", None
    if (m := _VOLUME.match(path)) and method == "GET":
        return "show", unquote(m.group(1))
    if (m := _EXTEND.match(path)) and method == "PUT":
        return "extend", unquote(m.group(1))
    return "unknown", None


def _error_body(status: int, code: str, detail: str, request_id: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "detail": detail, "status": status, "request_id": request_id}]}


class EmulatorApp:
    """An ASGI application serving one `EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        raw = await self._read_body(receive)
        request_id = uuid.uuid4().hex
        path: str = scope["path"]
        if path.startswith(_ADMIN_PREFIX):
            status, body = self._admin(scope["method"], path, raw)
            await _respond(send, status, json.dumps(body).encode(), request_id)
            return
        self.state.request_started()
        try:
            await self._serve(scope, raw, request_id, send)
        finally:
            self.state.request_finished()

    async def _serve(self, scope: Scope, raw: bytes, request_id: str, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method: str = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        route, volume_id = _route_of(method, scope["path"])
        signature_ok = self._signature_valid(method, scope, headers, raw_path, query)
        body: Any
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fault = self.state.take_fault(route) if signature_ok is True and route != "unknown" else None
        try:
            if signature_ok is not True:
                raise _Refusal(401, "UNAUTHORIZED", signature_ok or "Invalid signature")
            version = self._version(headers.get("scp-api-version"))
            if fault is not None and fault.latency_s:
                await asyncio.sleep(fault.latency_s)
            if fault is not None and fault.status is not None:
                if route == "extend" and fault.apply and volume_id:
                    self._extend(volume_id, body, version)
                raise _Refusal(fault.status, "INJECTED_FAULT", f"Injected fault: status {fault.status}")
            if fault is not None and route == "extend" and fault.apply is False:
                answer = _Answer(202, {})  # the answer will be dropped or mangled; nothing was applied
            else:
                answer = self._handle(route, volume_id, body, query, version)
        except _Refusal as refusal:
            answer = _Answer(refusal.status, _error_body(refusal.status, refusal.code, refusal.detail, request_id))
        self.state.record(
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

    async def _send_answer(self, send: Send, answer: _Answer, fault: Fault | None, request_id: str) -> None:
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

    def _signature_valid(
        self, method: str, scope: Scope, headers: dict[str, str], raw_path: str, query: str
    ) -> str | bool:
        """True, or the reason the request is unauthenticated."""
        settings = self.state.settings
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

    @staticmethod
    def _version(header: str | None) -> str:
        if header is None:
            return CURRENT_API_VERSION
        service, _, version = header.strip().partition(" ")
        if service.lower() != API_SERVICE or version not in API_VERSIONS:
            raise _Refusal(400, "INVALID_API_VERSION", f"Unsupported Scp-Api-Version {header!r}")
        return version

    # --- routes ---------------------------------------------------------------------------------

    def _handle(self, route: str, volume_id: str | None, body: Any, query: str, version: str) -> _Answer:
        if route == "list":
            return _Answer(200, self._list(parse_qs(query), version))
        if route == "quota":
            return _Answer(200, self.state.quota())
        if route == "show" and volume_id is not None:
            return _Answer(200, _shape(self._existing(volume_id), version))
        if route == "extend" and volume_id is not None:
            return _Answer(202, self._extend(volume_id, body, version))
        raise _Refusal(404, "NOT_FOUND", "No such resource")

    def _existing(self, volume_id: str) -> dict[str, Any]:
        volume = self.state.get(volume_id)
        if volume is None:
            raise _Refusal(404, "NOT_FOUND", f"Volume {volume_id} could not be found.")
        return volume

    def _list(self, params: dict[str, list[str]], version: str) -> dict[str, Any]:
        def one(name: str) -> str | None:
            return params[name][0] if name in params else None

        try:
            limit = int(one("limit") or 20)
            offset = int(one("offset") or 0)
        except ValueError:
            raise _Refusal(400, "BAD_REQUEST", "limit and offset must be integers") from None
        if not 1 <= limit <= 1000 or offset < 0:
            raise _Refusal(400, "BAD_REQUEST", "limit must be between 1 and 1000, offset not negative")
        volumes = self.state.all()
        if name := one("name"):
            volumes = [v for v in volumes if v.get("name") == name]
        if state := one("state"):
            volumes = [v for v in volumes if v.get("state") == state]
        if marker := one("marker"):
            ids = [v["id"] for v in volumes]
            if marker not in ids:
                raise _Refusal(400, "BAD_REQUEST", f"Marker {marker} could not be found.")
            volumes = volumes[ids.index(marker) + 1 :]
        count = len(volumes)
        page = volumes[offset : offset + limit]
        return {"count": count, "volumes": [_shape(v, version) for v in page]}

    def _extend(self, volume_id: str, body: Any, version: str) -> dict[str, Any]:
        volume = self._existing(volume_id)
        size = body.get("size") if isinstance(body, dict) else None
        if isinstance(size, bool) or not isinstance(size, int):
            raise _Refusal(400, "BAD_REQUEST", 'Request body must be {"size": <integer>}')
        if volume["state"] not in EXTENDABLE_STATES:
            what = "is already being extended" if volume["state"] == EXTENDING_STATE else f"is {volume['state']}"
            raise _Refusal(
                409,
                "CONFLICT",
                f"Volume {volume_id} {what}; only available or in-use volumes can be extended.",
            )
        if size < MIN_VOLUME_SIZE_GB or size % SIZE_STEP_GB:
            raise _Refusal(
                400,
                "BAD_REQUEST",
                f"Size must be at least {MIN_VOLUME_SIZE_GB} and a multiple of {SIZE_STEP_GB}.",
            )
        if size <= volume["size"]:
            raise _Refusal(
                400,
                "BAD_REQUEST",
                f"Volume size must be expanded: current {volume['size']} GB, requested {size} GB.",
            )
        limit = self.state.settings.per_volume_limit_gb
        if size > limit:
            raise _Refusal(
                400, "QUOTA_EXCEEDED", f"Requested size {size} GB exceeds the per-volume quota of {limit} GB."
            )
        return _shape(self.state.start_extension(volume_id, size), version)

    # --- control API for rehearsals (loopback only, like the emulator itself) --------------------

    def _admin(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        action = path[len(_ADMIN_PREFIX) :]
        try:
            if method == "POST" and action == "faults":
                data = json.loads(raw or b"{}")
                self.state.add_fault(Fault(**data))
                return 200, {"ok": True}
            if method == "POST" and action == "reset":
                self.state.reset()
                return 200, {"ok": True}
            if method == "POST" and action == "volumes":
                self.state.put(json.loads(raw))
                return 200, {"ok": True}
            if method == "GET" and action == "journal":
                return 200, {"requests": [e.__dict__ for e in self.state.journal]}
        except (TypeError, ValueError, KeyError) as exc:
            return 400, {"error": str(exc)}
        return 404, {"error": "unknown emulator control route"}

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


def _shape(volume: dict[str, Any], version: str) -> dict[str, Any]:
    """The volume in the response shape of `version` (1.0/1.1 lack the performance fields)."""
    if version in VERSIONS_WITH_PERFORMANCE:
        return volume
    return {k: v for k, v in volume.items() if k not in ("max_iops", "max_throughput")}


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

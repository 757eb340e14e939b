"""The emulator's volume routes and its control routes: the API's rules, answered from `EmulatorState`."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from ..scp import (
    EXTENDABLE_STATES,
    EXTENDING_STATES,
    MIN_VOLUME_SIZE_GB,
    SIZE_STEP_GB,
    SNAPSHOT_NAME_MAX,
    SNAPSHOT_NAME_PATTERN,
    VERSIONS_WITH_PERFORMANCE,
    state_key,
)
from ._defaults import REHEARSAL_CLOSE, REHEARSAL_TRAIL
from ._faults import Fault
from ._state import SELF_URL, EmulatorSettings, EmulatorState

_VOLUME = re.compile(r"^/v1/volumes/([^/]+)$")
_EXTEND = re.compile(r"^/v1/volumes/([^/]+)/size$")
_SNAPSHOT = re.compile(r"^/v1/snapshots/([^/]+)$")
_SNAPSHOT_NAME = re.compile(SNAPSHOT_NAME_PATTERN.replace("$", r"\Z"))
ADMIN_PREFIX = "/_emulator/"


class Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Answer:
    status: int
    body: Any


def route_of(method: str, path: str) -> tuple[str, str | None]:
    if path == "/v1/endpoints" and method == "GET":
        return "endpoints", None
    if path == "/v1/volumes" and method == "GET":
        return "list", None
    if path == "/v1/volumes/quota-sets" and method == "GET":
        return "quota", None
    if (m := _VOLUME.match(path)) and method == "GET":
        return "show", unquote(m.group(1))
    if (m := _EXTEND.match(path)) and method == "PUT":
        return "extend", unquote(m.group(1))
    # --- snapshots: the id carried is the snapshot's
    if path == "/v1/snapshots" and method == "POST":
        return "snapshot", None
    if path == "/v1/snapshots" and method == "GET":
        return "snapshots", None
    if (m := _SNAPSHOT.match(path)) and method == "GET":
        return "snapshot_show", unquote(m.group(1))
    return "unknown", None


def error_body(status: int, code: str, detail: str, request_id: str) -> dict[str, Any]:
    """An error in the shape recorded from the platform (a real 400 answer of the Virtual Server API)."""
    return {
        "errors": [
            {
                "code": code,
                "detail": detail,
                "global_request_id": request_id,
                "links": [],
                "related_resources": [],
                "request_id": request_id,
                "response": None,
                "status": status,
                "title": code,
            }
        ]
    }


def endpoint_catalog(settings: EmulatorSettings, own_url: str) -> dict[str, Any]:
    """`GET /v1/endpoints`: the configured entries, with `{self}` replaced by the emulator's own URL."""
    entries = []
    for entry in settings.endpoint_catalog:
        item = dict(entry)
        if isinstance(item.get("url"), str):
            item["url"] = item["url"].replace(SELF_URL, own_url)
        entries.append(item)
    return {"endpoints": entries}


class VolumeRoutes:
    """The documented volume routes over one `EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(self, route: str, volume_id: str | None, body: Any, query: str, version: str) -> Answer:
        if route == "list":
            return Answer(200, self._list(parse_qs(query), version))
        if route == "quota":
            return Answer(200, self.state.quota())
        if route == "show" and volume_id is not None:
            return Answer(200, shape(self._existing(volume_id), version))
        if route == "extend" and volume_id is not None:
            return Answer(202, self.extend(volume_id, body, version))
        if route == "snapshot":
            return Answer(202, self.create_snapshot(body))
        if route == "snapshots":
            return Answer(200, self._list_snapshots(parse_qs(query)))
        if route == "snapshot_show" and volume_id is not None:
            snapshot = self.state.snapshot(volume_id)
            if snapshot is None:
                raise Refusal(404, "NOT_FOUND", f"Snapshot {volume_id} could not be found.")
            return Answer(200, snapshot)
        raise Refusal(404, "NOT_FOUND", "No such resource")

    def _existing(self, volume_id: str) -> dict[str, Any]:
        volume = self.state.get(volume_id)
        if volume is None:
            raise Refusal(404, "NOT_FOUND", f"Volume {volume_id} could not be found.")
        return volume

    def _list(self, params: dict[str, list[str]], version: str) -> dict[str, Any]:
        def one(name: str) -> str | None:
            return params[name][0] if name in params else None

        try:
            limit = int(one("limit") or 20)
            offset = int(one("offset") or 0)
        except ValueError:
            raise Refusal(400, "BAD_REQUEST", "limit and offset must be integers") from None
        if not 1 <= limit <= 1000 or offset < 0:
            raise Refusal(400, "BAD_REQUEST", "limit must be between 1 and 1000, offset not negative")
        found = self.state.page(name=one("name"), state=one("state"), marker=one("marker"), offset=offset, limit=limit)
        if found is None:
            raise Refusal(400, "BAD_REQUEST", f"Marker {one('marker')} could not be found.")
        count, page = found
        return {"count": count, "volumes": [shape(v, version) for v in page]}

    def extend(self, volume_id: str, body: Any, version: str) -> dict[str, Any]:
        volume = self._existing(volume_id)
        size = body.get("size") if isinstance(body, dict) else None
        if isinstance(size, bool) or not isinstance(size, int):
            raise Refusal(400, "BAD_REQUEST", 'Request body must be {"size": <integer>}')
        resizing = self.state.resizing(volume_id)  # also when an attached volume stays in-use while it grows
        if resizing and self.state.settings.concurrent_resizes == "refuse":
            raise Refusal(409, "CONFLICT", f"Volume {volume_id} is already being extended.")
        if volume["state"] not in EXTENDABLE_STATES and not resizing:
            what = "is already being extended" if volume["state"] in EXTENDING_STATES else f"is {volume['state']}"
            raise Refusal(
                409,
                "CONFLICT",
                f"Volume {volume_id} {what}; only available or in-use volumes can be extended.",
            )
        if size < MIN_VOLUME_SIZE_GB or size % SIZE_STEP_GB:
            raise Refusal(
                400,
                "BAD_REQUEST",
                f"Size must be at least {MIN_VOLUME_SIZE_GB} and a multiple of {SIZE_STEP_GB}.",
            )
        if size <= volume["size"]:
            raise Refusal(
                400,
                "BAD_REQUEST",
                f"Volume size must be expanded: current {volume['size']} GB, requested {size} GB.",
            )
        limit = self.state.settings.per_volume_limit_gb
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 and size > limit:
            raise Refusal(
                400, "QUOTA_EXCEEDED", f"Requested size {size} GB exceeds the per-volume quota of {limit} GB."
            )
        largest = self.state.settings.max_volume_size_gb
        if size > largest:
            raise Refusal(400, "ValidationError", f"Size must be at most {largest} GB; requested {size} GB.")
        return shape(self.state.start_extension(volume_id, size), version)

    # --- snapshots (Cinder's rules, as the createsnapshot and listsnapshot pages describe them) -----------

    def create_snapshot(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Refusal(400, "ValidationError", "Request body must be a JSON object")
        name, volume_id, force = body.get("name"), body.get("volume_id"), body.get("force", False)
        if not isinstance(name, str) or not _SNAPSHOT_NAME.match(name) or len(name) > SNAPSHOT_NAME_MAX:
            raise Refusal(
                400,
                "ValidationError",
                f"name is required, matches {SNAPSHOT_NAME_PATTERN}, at most {SNAPSHOT_NAME_MAX} characters",
            )
        if not isinstance(volume_id, str) or not volume_id:
            raise Refusal(400, "ValidationError", "volume_id is required")
        if not isinstance(force, bool):
            raise Refusal(400, "ValidationError", "force must be a boolean")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise Refusal(400, "ValidationError", "description must be a string")
        volume = self.state.get(volume_id)
        if volume is None:
            raise Refusal(404, "NOT_FOUND", f"Volume {volume_id} could not be found.")
        if (state_key(volume["state"]) == "in-use" or volume.get("servers")) and not force:
            raise Refusal(
                400, "ValidationError", f"Volume {volume_id} is attached (in-use); snapshotting it needs force=true."
            )
        if volume["state"] not in EXTENDABLE_STATES:
            raise Refusal(
                409,
                "CONFLICT",
                f"Volume {volume_id} is {volume['state']}; only available or in-use volumes can be snapshotted.",
            )
        limit = self.state.settings.snapshots_limit
        enforced = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        if enforced and len(self.state.snapshots()) >= limit:
            raise Refusal(413, "SnapshotLimitExceeded", f"Maximum number of snapshots allowed ({limit}) exceeded.")
        return self.state.start_snapshot(volume, name, description)

    def _list_snapshots(self, params: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            return params[name][0] if name in params else None

        try:
            limit = int(one("limit") or 20)
        except ValueError:
            raise Refusal(400, "BAD_REQUEST", "limit must be an integer") from None
        snapshots = self.state.snapshots(one("volume_id"))
        if name := one("name"):
            snapshots = [s for s in snapshots if s.get("name") == name]
        return {"count": len(snapshots), "snapshots": snapshots[:limit]}


_SETTABLE = frozenset(
    {
        "per_volume_limit_gb",
        "max_volume_size_gb",
        "accepted_versions",
        "extension_ends_in",
        "endpoint_catalog",
        "extend_seconds",
        "attached_stays_in_use",
        "snapshot_seconds",
        "snapshot_outcome",
        "snapshots_limit",
        "latency_s",
    }
)


def admin(state: EmulatorState, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    """The control routes for rehearsals (loopback only, like the emulator itself)."""
    action = path[len(ADMIN_PREFIX) :]
    try:
        if method == "POST" and action == "faults":
            data = json.loads(raw or b"{}")
            state.add_fault(Fault(**data))
            return 200, {"ok": True}
        if method == "POST" and action == "reset":
            state.reset()
            state.settings = copy.deepcopy(state.initial_settings)
            return 200, {"ok": True, "note": f"{REHEARSAL_TRAIL} {REHEARSAL_CLOSE}"}
        if method == "POST" and action == "volumes":
            state.put(json.loads(raw))
            return 200, {"ok": True}
        if method == "POST" and action == "settings":
            data = json.loads(raw or b"{}")
            unknown = sorted(set(data) - _SETTABLE)
            if unknown:
                raise ValueError(f"unknown or fixed setting(s): {', '.join(unknown)}")
            for name, value in data.items():
                setattr(state.settings, name, frozenset(value) if name == "accepted_versions" else value)
            return 200, {"ok": True}
        if method == "GET" and action == "journal":
            return 200, {"requests": [e.__dict__ for e in state.journal]}
    except (TypeError, ValueError, KeyError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": "unknown emulator control route"}


def shape(volume: dict[str, Any], version: str) -> dict[str, Any]:
    """The volume in the response shape of `version` (1.0/1.1 lack the performance fields)."""
    if version in VERSIONS_WITH_PERFORMANCE:
        return volume
    return {k: v for k, v in volume.items() if k not in ("max_iops", "max_throughput")}

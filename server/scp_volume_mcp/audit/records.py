"""The audit record and the trail's protocol.

An attempt that reaches the point of sending writes an `intent` record first; if that cannot be written,
nothing is sent (fail closed). Every attempt then ends with an `outcome` record sharing its `attempt_id`,
also when the client cancels or disconnects (the server shields that write). An intent without an outcome
(the process was killed in between) reads as "outcome unknown", and, like an outcome whose resize is still
pending, keeps the volume blocked until a `close` record settles it (see `open_attempts`).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..untrusted_text import clean

if TYPE_CHECKING:
    from .open_attempts import OpenAttempt

DETAIL_LIMIT = 500
"""Characters of detail per record: a long-named volume refused 80 times stays a few tens of KB."""
UNKNOWN = "outcome unknown"

Phase = Literal["intent", "outcome", "close"]
"""`close`: a later read (or a person) settled an attempt whose resize was pending; see `open_attempts`."""


class AuditError(OSError):
    """The audit trail is configured but cannot be written."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_attempt_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class AuditRecord:
    phase: Phase
    attempt_id: str
    tool: str
    volume_id: str
    previous_size_gb: int | None
    requested_size_gb: int
    outcome: str | None
    """None on an intent; completed, accepted, unchanged, declined, cancelled, refused, failed or interrupted."""
    api_version: str | None
    http_status: int | None = None
    request_id: str | None = None
    client_claimed: str | None = None
    """The name the MCP client gave for itself: a claim, not an identity."""
    caller: str | None = None
    """The authenticated caller (an OAuth subject), when there is one."""
    detail: str | None = None
    snapshot_id: str | None = None
    """The snapshot taken first (the way back), when the extension snapshotted first."""
    replica: str | None = None
    """Which process wrote it (`SCP_REPLICA_NAME`, else host name and process id)."""
    resize_pending: bool | None = None
    """On an outcome: True when a resize may still be under way (accepted but not seen, or its fate unknown),
    so the attempt stays open and blocks another resize of the volume until a read settles it."""
    endpoint: str | None = None
    """The SCP endpoint (`SCP_ENDPOINT`'s URL) the attempt's requests went to, so that a rehearsal against the
    emulator and real work can be told apart (`scp-volume-mcp audit --endpoint URL`). None: not said (records
    from before it are read as "endpoint unknown")."""
    time: str = field(default_factory=_now)

    def line(self) -> str:
        # Every string cleaned: no control characters, and no U+2028/U+2029, which JSON allows raw but
        # line-oriented readers split on.
        data = {key: clean(value, DETAIL_LIMIT).text if isinstance(value, str) else value
                for key, value in asdict(self).items()}  # fmt: skip
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


class AuditTrail(Protocol):
    """Where audit records go: a file here, a database in team mode."""

    @property
    def enabled(self) -> bool:
        """False when nothing is kept (`SCP_AUDIT_LOG=off`): then it knows of no open attempt."""
        ...

    async def write(self, record: AuditRecord) -> None:
        """Store one record durably; raise `AuditError` when that fails."""

    async def open_attempts(self, volume_id: str) -> list[OpenAttempt]:
        """The volume's attempts that may still have a resize under way (see `open_attempts`), recent first;
        raises `AuditError` when the trail cannot be read."""

    async def recent_growth_gb(self, volume_id: str, exclude: str | None = None) -> int:
        """How much the volume grew in the last 24 hours, as the policy's `daily_growth_gb` counts it (see
        `recent_growth`), leaving out the attempt `exclude`; raises `AuditError` when the trail cannot be
        read."""


def replica_name() -> str:
    """Which process writes: `SCP_REPLICA_NAME`, else host name and process id."""
    return os.environ.get("SCP_REPLICA_NAME") or f"{socket.gethostname()}:{os.getpid()}"


def normalized(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record in today's shape: older lines said `client` for `client_claimed`, had no phase, and
    named no endpoint (None: unknown)."""
    entry = dict(record)
    if "client_claimed" not in entry and "client" in entry:
        entry["client_claimed"] = entry.pop("client")
    entry.setdefault("phase", "outcome")
    entry.setdefault("endpoint", None)
    return entry


def endpoint_key(url: str) -> str:
    """An endpoint as `audit --endpoint` compares it: trimmed, without trailing slashes, in lower case (so
    `https://API.example/` and `https://api.example` are one endpoint). `team/reader.py` does the same in SQL."""
    return url.strip().rstrip("/").lower()


def same_endpoint(record: Mapping[str, Any], url: str) -> bool:
    """Whether the record names `url`'s endpoint; a record that names none (unknown) matches no URL."""
    stored = record.get("endpoint")
    return isinstance(stored, str) and endpoint_key(stored) == endpoint_key(url)


def attempts(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per attempt: its outcome record, or its intent marked "outcome unknown" when none followed;
    a `close` record is an entry of its own."""
    by_attempt: dict[str, dict[str, Any]] = {}
    for record in records:
        key = record.get("attempt_id") or f"line-{len(by_attempt)}"
        if record.get("phase") == "close":
            by_attempt[f"{key}:close:{len(by_attempt)}"] = record
        elif record.get("phase") == "intent":
            by_attempt.setdefault(key, {**record, "outcome": UNKNOWN})
        else:
            by_attempt[key] = record
    return list(by_attempt.values())

"""The audit trail (`SCP_AUDIT_LOG`): one JSON line per extension attempt, flushed to disk before the
tool answers. When it is configured but cannot be written, extensions are refused (fail closed)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


class AuditError(OSError):
    """The audit log is configured but cannot be written."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditRecord:
    tool: str
    volume_id: str
    previous_size_gb: int | None
    requested_size_gb: int
    outcome: str
    api_version: str | None
    http_status: int | None = None
    request_id: str | None = None
    client: str | None = None
    detail: str | None = None
    time: str = field(default_factory=_now)


class AuditLog:
    """Appends records to a JSON-lines file; does nothing when no path is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def check_writable(self) -> None:
        """Raise `AuditError` unless a record could be appended now (called before anything is sent)."""
        if self.path is None:
            return
        try:
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None

    def write(self, record: AuditRecord) -> None:
        """Append and fsync one line. Raises `AuditError` when that fails."""
        if self.path is None:
            return
        line = json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as stream:
                stream.write(line)
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None

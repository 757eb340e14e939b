"""The audit trail as a JSON-lines file (`SCP_AUDIT_LOG`): one fsynced line per record."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import anyio.to_thread

from .records import AuditError, AuditRecord


class FileAuditTrail:
    """Appends records to a JSON-lines file; does nothing when no path is configured."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def write(self, record: AuditRecord) -> None:
        # The fsync waits for the disk: in a worker thread, so other calls keep being served meanwhile.
        await anyio.to_thread.run_sync(self.append, record)

    def append(self, record: AuditRecord) -> None:
        """Append and fsync one line. Raises `AuditError` when any step fails (full disk included)."""
        if self.path is None:
            return
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as stream:
                stream.write(record.line())
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None

    def probe(self) -> str:
        """Really write (a scratch file beside the log) and report free space; raises `AuditError`."""
        if self.path is None:
            return "off"
        if self.path.exists() and not self.path.is_file():
            raise AuditError(f"cannot write the audit log {self.path}: it is not a regular file")
        scratch = self.path.with_name(f".{self.path.name}.doctor-{uuid.uuid4().hex[:8]}")
        try:
            with scratch.open("w", encoding="utf-8") as stream:
                stream.write("{}\n" * 64)
                stream.flush()
                os.fsync(stream.fileno())
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None
        finally:
            scratch.unlink(missing_ok=True)
        free = shutil.disk_usage(self.path.parent).free
        return f"{self.path} (writable; {free / 2**30:.1f} GiB free)"

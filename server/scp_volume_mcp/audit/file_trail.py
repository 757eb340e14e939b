"""The audit trail as a JSON-lines file: one fsynced line per record, shared safely by every process that
names the same file (stdio servers a host restarts, a demo beside a server).

- Appends take a lock file beside the trail (`<name>.lock`, through `filelock`: `flock` on POSIX,
  `LockFileEx` on Windows), so lines from several processes never interleave and rotation is atomic.
- The file is bounded: past `MAX_BYTES` it is renamed with a UTC time suffix and a new file starts with the
  lines of the attempts still open (see `open_attempts`), so those are always found in the current file
  without reading years of history. Rotated files are kept; `scp-volume-mcp audit` reads them too.
- Open attempts are read incrementally: each process keeps its offset and an index of open attempts (and of
  the last day's growth per volume, see `recent_growth`), and reads only what was appended since (all of it
  again after a rotation). The last day's growth is not carried (a busy day would fill the new file with it):
  the first growth question after a fresh read also reads the rotated files written within the window.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from filelock import FileLock, Timeout

from .open_attempts import OpenAttempt, OpenAttemptIndex
from .recent_growth import GROWTH_WINDOW_S, RecentGrowthIndex
from .records import AuditError, AuditRecord

if TYPE_CHECKING:
    from filelock import FileLock

MAX_BYTES = 8 * 2**20
"""The current file's size past which it is rotated (about 20,000 attempts)."""
READ_CHUNK = 2**20
LOCK_TIMEOUT_S = 30.0
"""How long an append waits for another process's append (or rotation) to finish."""


class FileAuditTrail:
    """Appends records to a JSON-lines file and finds the open attempts in it; does nothing when no path is
    configured (`SCP_AUDIT_LOG=off`)."""

    def __init__(self, path: Path | None, *, max_bytes: int = MAX_BYTES) -> None:
        # Resolved: processes naming one file through a symlink and through its real path share its lock files,
        # and a rotation renames the file itself, not the link.
        self.path = path.resolve() if path is not None else None
        self.max_bytes = max_bytes
        self._append_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._index = OpenAttemptIndex()
        self._growth = RecentGrowthIndex()
        self._offset = 0
        self._file_id: tuple[int, int] | None = None
        self._file_lock = FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT_S, thread_local=False) if path else None

    def __repr__(self) -> str:
        return f"FileAuditTrail({str(self.path)!r})"

    @property
    def enabled(self) -> bool:
        return self.path is not None

    async def write(self, record: AuditRecord) -> None:
        if self.path is None:  # the trail is off: no worker thread for nothing (two hops per extension)
            return
        # The fsync waits for the disk: in a worker thread, so other calls keep being served meanwhile.
        await anyio.to_thread.run_sync(self.append, record)

    def append(self, record: AuditRecord) -> None:
        """Append and fsync one line, under the lock shared with other processes. Raises `AuditError` when any
        step fails (full disk included)."""
        if self.path is None:
            return

        line = record.line()
        try:
            with self._append_lock:
                if not self._shareable():  # a missing folder, a directory, a device: fails (or not) on its own
                    _append(self.path, line)
                    return
                assert self._file_lock is not None
                with self._file_lock:
                    if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
                        self._rotate()
                    _append(self.path, line)
        except Timeout:
            raise AuditError(f"cannot write the audit log {self.path}: its lock is held by another process") from None
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None

    def _shareable(self) -> bool:
        """A regular file (or one to create) in an existing folder: locked and rotated. Anything else is written
        as it is, so that a wrong path fails as itself and no lock file is made beside a device."""
        assert self.path is not None
        return self.path.parent.is_dir() and (self.path.is_file() or not self.path.exists())

    def locks_folder(self) -> Path | None:
        """Where the per-volume locks of the processes sharing this trail live (`file_locks`): beside it. None
        when it is no file to share (off, or a device): then its own writes fail, or not, as they are."""
        if self.path is None or (self.path.exists() and not self.path.is_file()):
            return None
        return self.path.with_name(f"{self.path.name}.locks")

    async def open_attempts(self, volume_id: str) -> list[OpenAttempt]:
        if self.path is None:
            return []
        return await anyio.to_thread.run_sync(self._open_attempts, volume_id)

    def _open_attempts(self, volume_id: str) -> list[OpenAttempt]:
        try:
            with self._index_lock:
                self._catch_up()
                return self._index.of_volume(volume_id)
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror or exc}") from None

    async def recent_growth_gb(self, volume_id: str, exclude: str | None = None) -> int:
        if self.path is None:
            return 0
        return await anyio.to_thread.run_sync(self._recent_growth_gb, volume_id, exclude)

    def _recent_growth_gb(self, volume_id: str, exclude: str | None) -> int:
        try:
            with self._index_lock:
                self._catch_up()
                if not self._growth.history_read:  # read once per current file, when growth is first asked
                    self._read_growth_history()
                return self._growth.grown_gb(volume_id, exclude=exclude)
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror or exc}") from None

    def _read_growth_history(self) -> None:
        """Feed the growth index the rotated files written within its window (the order of files does not
        matter to it); a file last written before the window holds none."""
        since = time.time() - GROWTH_WINDOW_S
        for rotated in self.rotated_files():
            with contextlib.suppress(FileNotFoundError):
                if rotated.stat().st_mtime >= since:
                    _read_lines(rotated, 0, lambda record, _: self._growth.add(record))
        self._growth.history_read = True

    def _catch_up(self) -> None:
        """Feed the indexes what was appended since the last read (everything, when the file was replaced)."""
        assert self.path is not None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stat = None
        if stat is None or not S_ISREG(stat.st_mode):  # nothing written yet, or a device such as /dev/full
            self._index, self._growth, self._offset, self._file_id = OpenAttemptIndex(), RecentGrowthIndex(), 0, None
            return
        if (stat.st_dev, stat.st_ino) != self._file_id or stat.st_size < self._offset:
            self._index, self._growth = OpenAttemptIndex(), RecentGrowthIndex()
            self._offset, self._file_id = 0, (stat.st_dev, stat.st_ino)
        self._offset += _read_lines(self.path, self._offset, self._feed)

    def _feed(self, record: dict[str, Any], line: str) -> None:
        self._index.add(record, line)
        self._growth.add(record)

    def _rotate(self) -> None:
        """Under the shared lock: keep the current file under a time suffix and start a new one holding the
        open attempts' lines."""
        assert self.path is not None
        with self._index_lock:
            self._catch_up()
            self._index.prune()
            carried = self._index.carried_lines()
        _rotate_file(self.path, carried)

    def rotated_files(self) -> list[Path]:
        """The rotated files beside the trail, oldest first."""
        if self.path is None:
            return []
        return sorted(p for p in self.path.parent.glob(f"{self.path.name}.2*") if p.is_file())

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


def _read_lines(path: Path, offset: int, feed: Callable[[dict[str, Any], str], None]) -> int:
    """Feed each record stored in `path` from `offset` on, with its line; returns how many bytes were read
    (complete lines only: a line being appended now is read next time). A line that is not a well-formed record
    (a torn write, a hand edit) is skipped, and never stops the lines after it from being read."""
    read = 0
    with path.open("rb") as stream:
        stream.seek(offset)
        pending = b""
        while chunk := stream.read(READ_CHUNK):  # a large trail (one from before rotation) in bounded pieces
            pending += chunk
            complete = pending[: pending.rfind(b"\n") + 1]
            pending = pending[len(complete) :]
            for raw in complete.splitlines(keepends=True):
                with contextlib.suppress(ValueError, TypeError, OverflowError, UnicodeDecodeError):
                    line = raw.decode("utf-8")
                    record = json.loads(line)
                    if isinstance(record, dict):
                        feed(record, line)
            read += len(complete)
    return read


def _append(path: Path, line: str) -> None:
    with path.open("a+b") as stream:
        if stream.tell() > 0:  # a line cut short (a crash, a full disk) would swallow this one: end it first
            stream.seek(-1, os.SEEK_END)
            if stream.read(1) != b"\n":
                line = "\n" + line
        stream.write(line.encode("utf-8"))
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _rotate_file(path: Path, carried: list[str]) -> None:
    """Keep `path` under a time suffix and put a new file holding `carried` in its place."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = path.with_name(f"{path.name}.{stamp}-{uuid.uuid4().hex[:6]}")
    fresh = path.with_name(f".{path.name}.rotating")
    with fresh.open("w", encoding="utf-8") as stream:
        stream.writelines(carried)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(path, kept)
    os.replace(fresh, path)
    _fsync_folder(path.parent)

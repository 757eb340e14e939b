"""Per-volume locks between processes that share one audit file (stdio servers a host starts and restarts,
a demo beside them): a lock file per volume in a folder beside the trail, through `filelock` (`flock` on
POSIX, `LockFileEx` on Windows). The operating system releases a lock when its process dies, so a killed
server never leaves a volume locked, as PostgreSQL's advisory locks do in team mode."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from filelock import FileLock, Timeout

from .audit import FileAuditTrail
from .coordination import CoordinationError, HeldInProcess, HeldLock

if TYPE_CHECKING:
    from filelock import FileLock

POLL_S = 0.05


class FileVolumeLocks:
    """A `VolumeCoordinator` for a file trail: a folder beside it holds one lock file per volume. Where that
    folder is, is worked out at each lock (a trail's folder made after start still gets its locks)."""

    def __init__(self, trail: FileAuditTrail, *, lock_timeout_s: float) -> None:
        self.trail, self.lock_timeout_s = trail, lock_timeout_s

    def __repr__(self) -> str:
        return f"FileVolumeLocks({self.trail!r})"

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    @asynccontextmanager
    async def volume_lock(self, volume_id: str) -> AsyncIterator[HeldLock]:
        folder = self.trail.locks_folder()
        if folder is None:  # no file to share: nothing else can be writing to it (its writes fail closed)
            yield HeldInProcess()
            return
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise CoordinationError(f"cannot make the volume locks' folder {folder}: {exc.strerror}") from None
        name = hashlib.sha256(volume_id.encode()).hexdigest()[:32]

        lock = FileLock(folder / f"{name}.lock", thread_local=False)
        try:
            with anyio.move_on_after(self.lock_timeout_s):
                # Polled: a thread blocked in flock could not be cancelled with the call.
                while not _try(lock):  # noqa: ASYNC110
                    await anyio.sleep(POLL_S)
        except OSError as exc:
            raise CoordinationError(f"cannot lock volume {volume_id} in {folder}: {exc.strerror}") from None
        if not lock.is_locked:
            raise CoordinationError(
                f"another extension of volume {volume_id} (in another process sharing this audit file) held its "
                f"lock for more than {self.lock_timeout_s:g} s"
            )
        try:
            yield HeldInProcess()
        finally:
            lock.release()


def _try(lock: FileLock) -> bool:

    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True

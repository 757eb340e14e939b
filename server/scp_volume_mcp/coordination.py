"""What serializes extensions of one volume beyond this process: the protocol a coordinator meets (team mode:
`team.coordinator.TeamCoordinator` on PostgreSQL; a file trail: `file_locks.FileVolumeLocks`), and its error."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class CoordinationError(Exception):
    """The volume's lock cannot be had, or was lost; nothing may be sent. The message is safe to show."""


class HeldLock(Protocol):
    """A volume lock while it is held."""

    async def verify(self) -> None:
        """Raise `CoordinationError` if the lock may have been lost since it was taken."""


class VolumeCoordinator(Protocol):
    def volume_lock(self, volume_id: str) -> AbstractAsyncContextManager[HeldLock]:
        """Hold the volume's lock for the block; raises `CoordinationError` when it cannot be had."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class HeldInProcess:
    """A lock held within this process only: it cannot be lost while the process runs."""

    async def verify(self) -> None:
        return None

"""The team's per-volume lock across replicas, on the team database. (Resizes that may still be under way
are not kept here: they are the open attempts of the audit table, see `audit/open_attempts.py`.)

- The per-volume lock is a session-level advisory lock, `pg_advisory_lock(namespace, hashtext(volume id))`,
  taken on a connection held for as long as the lock is: across the re-check, any snapshot and the resize.
  PostgreSQL releases it when that connection drops, so a crashed replica never leaves a volume locked.
- Right before the resize is sent, `HeldAdvisoryLock.verify` checks that the session holding the lock is
  still alive; if it is not, nothing is sent.
- Fail closed: when the database cannot be reached, or the lock is not obtained within `SCP_LOCK_TIMEOUT`,
  no extension is sent and the message says why.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .database import Database, DatabaseError, LockNotObtained
from .schema import LOCK_NAMESPACE

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from .database import Pool

logger = logging.getLogger("scp_volume_mcp")


class TeamCoordinator:
    """Serializes extensions of one volume across every replica sharing the database (the resize ledger's
    `VolumeCoordinator` in team mode)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __repr__(self) -> str:
        return f"TeamCoordinator({self.database!r})"

    async def start(self) -> None:
        """Open the database's pools and check its schema (raises `DatabaseError`)."""
        await self.database.start()

    async def aclose(self) -> None:
        await self.database.aclose()

    @asynccontextmanager
    async def volume_lock(self, volume_id: str) -> AsyncIterator[HeldAdvisoryLock]:
        """Hold the volume's advisory lock (across all replicas on this database) for the block; a schema that
        is missing or old refuses first, naming the command that fixes it."""
        await self.database.ensure_schema()
        conn = await self._acquire(volume_id)
        try:
            yield HeldAdvisoryLock(self.database, conn, volume_id)
        finally:
            await self._release(conn, volume_id)

    async def _acquire(self, volume_id: str) -> AsyncConnection[Any]:
        import psycopg
        from psycopg import errors
        from psycopg_pool import PoolTimeout

        database = self.database
        pool = await database.lock_pool()
        started = anyio.current_time()
        try:
            conn = await pool.getconn(timeout=database.lock_timeout_s)
        except PoolTimeout:
            raise DatabaseError(
                f"the coordination database {database.display_url} is not reachable "
                f"(no connection within {database.lock_timeout_s:g} s)"
            ) from None
        try:
            left_ms = max(1, int((database.lock_timeout_s - (anyio.current_time() - started)) * 1000))
            await conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{left_ms}ms",))
            await conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, volume_id))
            await conn.execute("SELECT set_config('lock_timeout', '0', false)")
        except errors.LockNotAvailable:
            await self._discard(pool, conn)
            raise LockNotObtained(
                f"another extension of volume {volume_id} (on this or another replica) held its lock for more "
                f"than {database.lock_timeout_s:g} s"
            ) from None
        except psycopg.Error as exc:
            await self._discard(pool, conn)
            problem = f"the coordination database {database.display_url} failed: {database.safe(exc)}"
            raise DatabaseError(problem) from None
        except BaseException:  # cancelled while waiting: the lock may or may not be ours; dropping the session frees it
            await self._discard(pool, conn)
            raise
        return conn

    async def _release(self, conn: AsyncConnection[Any], volume_id: str) -> None:
        import psycopg

        pool = await self.database.lock_pool()
        with anyio.CancelScope(shield=True):
            try:
                cursor = await conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (LOCK_NAMESPACE, volume_id))
                row = await cursor.fetchone()
                held = bool(row and row[0])
            except psycopg.Error as exc:
                held = False
                logger.error("Releasing the lock of volume %s failed: %s", volume_id, self.database.safe(exc))
            if not held:
                logger.error(
                    "The database lock of volume %s was lost while it was held (the connection dropped); "
                    "another replica may have acted on the volume meanwhile",
                    volume_id,
                )
                await self._discard(pool, conn)
            else:
                await pool.putconn(conn)

    @staticmethod
    async def _discard(pool: Pool, conn: AsyncConnection[Any]) -> None:
        """Close the connection (freeing any lock its session holds) and hand it back to be replaced."""
        with anyio.CancelScope(shield=True):
            try:
                await conn.close()
            finally:
                await pool.putconn(conn)


class HeldAdvisoryLock:
    """The advisory lock as held by one connection's session: it lasts exactly as long as that session."""

    def __init__(self, database: Database, conn: AsyncConnection[Any], volume_id: str) -> None:
        self.database, self._conn, self.volume_id = database, conn, volume_id

    async def verify(self) -> None:
        """Raise `DatabaseError` unless the session holding the lock is still alive (its backend may have been
        terminated, or its connection dropped, since the lock was taken). A session-level advisory lock
        lives as long as its session and this server never releases it early, so a live session holds it."""
        import psycopg

        try:
            with anyio.fail_after(self.database.lock_timeout_s):
                await self._conn.execute("SELECT 1")
        except (psycopg.Error, TimeoutError) as exc:
            raise DatabaseError(
                f"the database lock of volume {self.volume_id} was lost before the resize was sent "
                f"({self.database.safe(exc)})"
            ) from None

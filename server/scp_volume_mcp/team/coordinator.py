"""The team's per-volume coordination across replicas, on the team database: the volume lock and the
registry of resizes SCP accepted that no read has shown yet.

- The per-volume lock is a session-level advisory lock, `pg_advisory_lock(namespace, hashtext(volume id))`,
  taken on a connection held for as long as the lock is: across the re-check, any snapshot and the resize.
  PostgreSQL releases it when that connection drops, so a crashed replica never leaves a volume locked.
- Fail closed: when the database cannot be reached, or the lock is not obtained within `SCP_LOCK_TIMEOUT`,
  no extension is sent and the message says why.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from .database import LOCK_NAMESPACE, PENDING_TABLE, Database, DatabaseError, LockNotObtained

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
        """Open the database's pools and run its schema step (raises `DatabaseError`)."""
        await self.database.start()

    async def aclose(self) -> None:
        await self.database.aclose()

    async def note_pending(self, volume_id: str, target_gb: int) -> None:
        """Record (under the volume's lock) that SCP accepted a resize to `target_gb` not visible yet."""
        await self.database.ensure_schema()
        async with self.database.audit_connection() as conn:
            await conn.execute(
                f"INSERT INTO {PENDING_TABLE} (volume_id, target_gb, since) VALUES (%s, %s, now()) "  # noqa: S608
                "ON CONFLICT (volume_id) DO UPDATE SET target_gb = EXCLUDED.target_gb, since = now()",
                (volume_id, target_gb),
            )

    async def pending_target(self, volume_id: str, size_gb: int, failed: bool, ttl_s: float) -> int | None:
        """The pending target any replica recorded for the volume; forgotten once a read shows the size (or
        a failed state), or after `ttl_s`. Raises `DatabaseError` when the database cannot answer."""
        await self.database.ensure_schema()
        try:
            async with self.database.audit_connection() as conn:
                cursor = await conn.execute(
                    f"SELECT target_gb, extract(epoch FROM now() - since) FROM {PENDING_TABLE} "  # noqa: S608
                    "WHERE volume_id = %s",
                    (volume_id,),
                )
                row = await cursor.fetchone()
                if row is None:
                    return None
                target, age = int(row[0]), float(row[1])
                if size_gb >= target or failed or age > ttl_s:
                    await conn.execute(
                        f"DELETE FROM {PENDING_TABLE} WHERE volume_id = %s AND target_gb = %s",  # noqa: S608
                        (volume_id, target),
                    )
                    return None
                return target
        except DatabaseError:
            raise
        except Exception as exc:
            problem = f"cannot read pending resizes in {self.database.display_url}: {self.database.safe(exc)}"
            raise DatabaseError(problem) from None

    @asynccontextmanager
    async def volume_lock(self, volume_id: str) -> AsyncIterator[None]:
        """Hold the volume's advisory lock (across all replicas on this database) for the block."""
        conn = await self._acquire(volume_id)
        try:
            yield
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

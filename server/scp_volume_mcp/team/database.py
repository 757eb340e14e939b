"""The team database (`SCP_DATABASE_URL`): its URL helpers, its two connection pools and the schema check.

- The audit trail is the append-only table `scp_volume_audit` (a trigger refuses UPDATE, DELETE and
  TRUNCATE). `scp-volume-mcp db migrate` creates it (`team/schema.py`); a replica only checks the schema's
  version and runs no DDL, so it can run as a role that may only INSERT and SELECT.
- Fail closed: when the database cannot be reached, no extension is sent and the message says why.
  Lookups never need it: a plan reads the open attempts when it can and says nothing of them when it cannot.

psycopg 3 (with psycopg_pool), because one driver serves both the async server and the synchronous
`scp-volume-mcp audit` command, ships binary wheels, and its pool checks connections and reconnects on
its own. The URL's password never appears in a log, an error or a repr: see `mask_url`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from ..coordination import CoordinationError
from .schema import SCHEMA_VERSION, TABLE, read_version_async, version_problem

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    Pool = AsyncConnectionPool[AsyncConnection[Any]]

logger = logging.getLogger("scp_volume_mcp")

DEFAULT_LOCK_TIMEOUT_S = 30.0
DEFAULT_POOL_SIZE = 20
CONNECT_TIMEOUT_S = 5


class DatabaseError(CoordinationError):
    """The team database cannot do what was asked (unreachable, refused, or the lock not obtained in time).
    The message is safe to show: it never holds the password."""


TEAM_EXTRA_INSTALL = 'pip install "scp-volume-mcp[team]" (in a checkout: pip install ".[team]")'


class TeamExtraMissing(DatabaseError):
    """Team mode without PostgreSQL's driver: the `team` extra is not installed."""


def require_team_extra() -> None:
    """Raise `TeamExtraMissing`, saying how to install it, when psycopg or its pool cannot be imported."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise TeamExtraMissing(
            f"team mode (SCP_DATABASE_URL) needs the team extra, PostgreSQL's driver, which is not installed "
            f"({exc.name or 'psycopg'}): {TEAM_EXTRA_INSTALL}"
        ) from None


class LockNotObtained(DatabaseError):
    """Another call (on this replica or another) held the volume's lock for longer than the lock timeout."""


def is_database_url(url: str) -> bool:
    """A postgresql:// URL that parses (a malformed one, such as an unclosed IPv6 bracket, is not)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed host or port
    except ValueError:
        return False
    return parts.scheme in ("postgresql", "postgres")


def mask_url(url: str) -> str:
    """The URL with its password (and any `password=` parameter) replaced by `****`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed (an unclosed IPv6 bracket): mask by shape, never echo a password
        return re.sub(r"(?i)password=[^&]*", "password=****", re.sub(r"(://[^:/@]*):[^@]*@", r"\1:****@", url))
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, hostport = netloc.rpartition("@")
        user, has_password, _ = credentials.partition(":")
        netloc = f"{user}:****@{hostport}" if has_password else f"{user}@{hostport}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1****", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


POOL_LOG_WINDOW_S = 60.0
"""While the database is down, psycopg_pool warns, in two lines, at each reconnection attempt of each pool:
stderr gets the first line once per this many seconds instead."""


class OncePerWindow(logging.Filter):
    """Lets one `error connecting` record of psycopg's pool through per window, as one line."""

    def __init__(self, window_s: float = POOL_LOG_WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: float | None = None
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("error connecting"):
            return True
        now = time.monotonic()
        if self._last is not None and now - self._last < self.window_s:
            self._held += 1
            return False
        held = f"; {self._held} more like it not shown" if self._held else ""
        record.msg = f"{message.splitlines()[0]} (retried in the background; said once per {self.window_s:g} s{held})"
        record.args = None
        self._last, self._held = now, 0
        return True


_POOL_LOG = logging.getLogger("psycopg.pool")


def quiet_pool_warnings() -> None:
    """Install `OncePerWindow` on psycopg's pool logger, once per process."""
    if not any(isinstance(f, OncePerWindow) for f in _POOL_LOG.filters):
        _POOL_LOG.addFilter(OncePerWindow())


class Database:
    """The team database: two small pools (one for held locks, one for audit writes, so that a replica
    holding many locks can still write its audit records), opened on first use, and the schema step."""

    def __init__(
        self,
        url: str,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        pool_size: int = DEFAULT_POOL_SIZE,
        replica: str | None = None,
    ) -> None:
        self._url = url
        self.display_url = mask_url(url)
        self.lock_timeout_s = lock_timeout_s
        self.pool_size = pool_size
        self.replica = replica
        """The name this replica's records carry, when set here (else the record's own)."""
        self._lock_pool: Pool | None = None
        self._audit_pool: Pool | None = None
        self._schema_ready = False
        self._schema_lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    def safe(self, exc: BaseException) -> str:
        """An exception's message on one line, the password masked where a URL or a `password=` shows it (not
        everywhere its characters occur: a password `p` must not turn `psycopg_pool` into `****syco****g_****ool`)."""
        text = " ".join((str(exc) or type(exc).__name__).split())
        text = text.replace(self._url, self.display_url)
        text = re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1****", text)
        return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:****@", text)

    def _pool(self, purpose: str, max_size: int) -> Pool:
        require_team_extra()
        from psycopg_pool import AsyncConnectionPool

        quiet_pool_warnings()

        return AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=max_size,
            open=False,
            name=f"scp-volume-mcp-{purpose}",
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "scp-volume-mcp"},
            reconnect_timeout=float("inf"),
        )

    async def _pools(self) -> tuple[Pool, Pool]:
        if self._lock_pool is None or self._audit_pool is None:
            lock_pool, audit_pool = self._pool("locks", self.pool_size), self._pool("audit", 4)
            self._lock_pool, self._audit_pool = lock_pool, audit_pool
            await lock_pool.open(wait=False)
            await audit_pool.open(wait=False)
        return self._lock_pool, self._audit_pool

    async def lock_pool(self) -> Pool:
        """The pool whose connections hold advisory locks (opened on first use)."""
        lock_pool, _ = await self._pools()
        return lock_pool

    async def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Open the pools and run the schema step. Raises `DatabaseError` (the server logs it and goes on:
        lookups work, and every extension tries again and is refused while the database is unreachable)."""
        await self.ensure_schema(timeout_s)

    async def aclose(self) -> None:
        pools = (self._lock_pool, self._audit_pool)
        self._lock_pool = self._audit_pool = None
        for pool in pools:
            if pool is not None:
                with anyio.CancelScope(shield=True):
                    await pool.close()

    async def ensure_schema(self, timeout_s: float | None = None) -> None:
        """Check that the schema is the version this server needs (no DDL: `scp-volume-mcp db migrate` makes
        it). Raises `DatabaseError` naming the command to run."""
        if self._schema_ready:
            return
        async with self._schema_lock:
            if self._schema_ready:
                return
            async with self.audit_connection(timeout_s) as conn:
                try:
                    version = await read_version_async(conn)
                except Exception as exc:
                    raise DatabaseError(f"cannot read the schema of {self.display_url}: {self.safe(exc)}") from None
            problem = version_problem(version, self.display_url)
            if problem is not None:
                raise DatabaseError(problem)
            self._schema_ready = True
            logger.info("Team database ready: %s (audit table %s, schema %d)", self.display_url, TABLE, SCHEMA_VERSION)

    @asynccontextmanager
    async def audit_connection(self, timeout_s: float | None = None) -> AsyncIterator[AsyncConnection[Any]]:
        require_team_extra()
        from psycopg_pool import PoolTimeout

        _, pool = await self._pools()
        wait = timeout_s if timeout_s is not None else min(self.lock_timeout_s, CONNECT_TIMEOUT_S * 2)
        try:
            conn = await pool.getconn(timeout=wait)
        except PoolTimeout:
            raise DatabaseError(f"the database {self.display_url} is not reachable (waited {wait:g} s)") from None
        try:
            yield conn
        finally:
            with anyio.CancelScope(shield=True):
                await pool.putconn(conn)

    async def execute(self, query: bytes, params: Any = None, *, fetch: bool = False) -> list[tuple[Any, ...]]:
        """Run one statement on an audit connection (autocommit: an INSERT is committed when this returns).
        A connection the server killed (a failover, `pg_terminate_backend`) fails once: the pool's idle
        connections are checked and the statement runs once more on a live one. Running an INSERT twice is
        harmless here: an attempt's records pair by `attempt_id`."""
        import psycopg

        for attempt in (1, 2):
            try:
                async with self.audit_connection() as conn:
                    cursor = await conn.execute(query, params)
                    return await cursor.fetchall() if fetch else []
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                _, pool = await self._pools()
                await pool.check()
        raise AssertionError("unreachable: the second attempt returns or raises")

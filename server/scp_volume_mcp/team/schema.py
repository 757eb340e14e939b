"""The team database's schema, created and upgraded only by `scp-volume-mcp db migrate`, run as the tables'
owner. Replicas run no DDL: they check the version at start and refuse to extend while it is missing or old,
so they can run as a role that may only INSERT and SELECT (see the README's GRANTs).

Version 1 (before `db migrate`) had no version table and a table of pending resizes; version 2 keeps the
pending state in the audit table itself (intents without a settled outcome, `resize_pending`, `close`
records), so that the trail is the only thing a replica writes, and it is append-only. Every row's `time` is
the database's clock at insertion (a trigger sets it): the one clock the replicas' expiries are measured by,
whatever their own clocks say, and one a replica's role cannot backdate.

Version 3 adds the second approver's tables (`team/approvals.py`): requests, and decisions whose primary key is
the request's id, so that a request is decided once, by whichever replica inserts first. Both are append-only,
stamped by the database's clock, like the audit table.

Version 4 pins the trigger functions' names: each runs with `SET search_path = pg_catalog, pg_temp` and calls
`pg_catalog.clock_timestamp()`, so a role that may CREATE in a schema and puts that schema first on its own
`search_path` cannot shadow the clock with a function of its own and backdate a row (`db migrate` still warns
when such a role exists: see `create_warnings`). It also adds the audit table's `endpoint` column: the SCP
endpoint each record's request went to (NULL in rows from before it, read as "endpoint unknown").
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 4
TABLE = "scp_volume_audit"
REQUESTS_TABLE = "scp_volume_approval_request"
DECISIONS_TABLE = "scp_volume_approval_decision"
VERSION_TABLE = "scp_volume_schema"
OLD_PENDING_TABLE = "scp_volume_pending"
LOCK_NAMESPACE = 0x5C9
"""The first key of every advisory lock this server takes (the second is the volume id's hash), so that its
locks do not collide with another application's single-key locks on the same database."""
SCHEMA_LOCK_KEY = 0
AUDIT_COLUMNS = (
    "time", "phase", "attempt_id", "tool", "volume_id", "previous_size_gb", "requested_size_gb", "outcome",
    "api_version", "http_status", "request_id", "client_claimed", "caller", "detail", "snapshot_id", "replica",
    "resize_pending", "endpoint",
)  # fmt: skip

MIGRATION = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time timestamptz NOT NULL,
    phase text NOT NULL,
    attempt_id text,
    tool text NOT NULL,
    volume_id text NOT NULL,
    previous_size_gb integer,
    requested_size_gb integer NOT NULL,
    outcome text,
    api_version text,
    http_status integer,
    request_id text,
    client_claimed text,
    caller text,
    detail text,
    snapshot_id text,
    replica text NOT NULL
);
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS resize_pending boolean;
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS endpoint text;
ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {TABLE}_phase_check;
ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_phase_check CHECK (phase IN ('intent', 'outcome', 'close'));
CREATE INDEX IF NOT EXISTS {TABLE}_volume_time ON {TABLE} (volume_id, time);
CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (time);
CREATE INDEX IF NOT EXISTS {TABLE}_attempt ON {TABLE} (attempt_id);
CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '{TABLE} is append-only: % refused', TG_OP;
END
$$;
DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE};
CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only();
CREATE OR REPLACE FUNCTION {TABLE}_stamp() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.time := pg_catalog.clock_timestamp();
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS {TABLE}_time ON {TABLE};
CREATE TRIGGER {TABLE}_time BEFORE INSERT ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {TABLE}_stamp();
DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};
CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only();
DROP TABLE IF EXISTS {OLD_PENDING_TABLE};
CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} (
    request_id text PRIMARY KEY,
    time timestamptz NOT NULL,
    ttl_s double precision NOT NULL CHECK (ttl_s > 0),
    volume_id text NOT NULL,
    volume_name text,
    previous_size_gb integer NOT NULL,
    requested_size_gb integer NOT NULL,
    snapshot_first boolean NOT NULL,
    rule text NOT NULL,
    requester text NOT NULL,
    replica text NOT NULL
);
CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (
    request_id text PRIMARY KEY REFERENCES {REQUESTS_TABLE} (request_id),
    time timestamptz NOT NULL,
    decision text NOT NULL CHECK (decision IN ('approved', 'declined')),
    approver text NOT NULL,
    reason text,
    replica text NOT NULL,
    nonce text NOT NULL
);
CREATE INDEX IF NOT EXISTS {REQUESTS_TABLE}_time ON {REQUESTS_TABLE} (time);
CREATE OR REPLACE FUNCTION scp_volume_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
DROP TRIGGER IF EXISTS {REQUESTS_TABLE}_no_change ON {REQUESTS_TABLE};
CREATE TRIGGER {REQUESTS_TABLE}_no_change BEFORE UPDATE OR DELETE ON {REQUESTS_TABLE}
    FOR EACH ROW EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS {REQUESTS_TABLE}_time ON {REQUESTS_TABLE};
CREATE TRIGGER {REQUESTS_TABLE}_time BEFORE INSERT ON {REQUESTS_TABLE} FOR EACH ROW EXECUTE FUNCTION {TABLE}_stamp();
DROP TRIGGER IF EXISTS {DECISIONS_TABLE}_no_change ON {DECISIONS_TABLE};
CREATE TRIGGER {DECISIONS_TABLE}_no_change BEFORE UPDATE OR DELETE ON {DECISIONS_TABLE}
    FOR EACH ROW EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS {REQUESTS_TABLE}_no_truncate ON {REQUESTS_TABLE};
CREATE TRIGGER {REQUESTS_TABLE}_no_truncate BEFORE TRUNCATE ON {REQUESTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS {DECISIONS_TABLE}_no_truncate ON {DECISIONS_TABLE};
CREATE TRIGGER {DECISIONS_TABLE}_no_truncate BEFORE TRUNCATE ON {DECISIONS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION scp_volume_append_only();
DROP TRIGGER IF EXISTS {DECISIONS_TABLE}_time ON {DECISIONS_TABLE};
CREATE TRIGGER {DECISIONS_TABLE}_time BEFORE INSERT ON {DECISIONS_TABLE} FOR EACH ROW EXECUTE FUNCTION {TABLE}_stamp();
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    version integer NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
);
"""  # noqa: S608 - names of this module's own constants, no input
SET_VERSION = (
    f"INSERT INTO {VERSION_TABLE} (single, version) VALUES (true, %s) "  # noqa: S608
    "ON CONFLICT (single) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()"
)
TABLES_PRESENT = "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL"
VERSION_QUERY = f"SELECT version FROM {VERSION_TABLE}"  # noqa: S608


def version_problem(version: int | None, where: str) -> str | None:
    """What is wrong with the schema at `where` (None: it is current)."""
    if version is None:
        return (
            f"the team database {where} has no scp-volume-mcp schema: run `scp-volume-mcp db migrate` once, "
            "as the owner of its tables"
        )
    if version < SCHEMA_VERSION:
        return (
            f"the team database {where} has schema version {version}, this server needs {SCHEMA_VERSION}: run "
            "`scp-volume-mcp db migrate` as the owner of its tables"
        )
    if version > SCHEMA_VERSION:
        return (
            f"the team database {where} has schema version {version}, newer than this server's "
            f"{SCHEMA_VERSION}: upgrade scp-volume-mcp"
        )
    return None


def migrate(url: str) -> tuple[int | None, int]:
    """Create or upgrade the schema (idempotent; concurrent runs take turns). Returns (version before, after).
    Raises `psycopg.Error` as the database answers it."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5, autocommit=False) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, SCHEMA_LOCK_KEY))
        before = read_version(conn)
        conn.execute(MIGRATION.encode())
        conn.execute(SET_VERSION.encode(), (SCHEMA_VERSION,))
    return before, SCHEMA_VERSION


CREATE_RISKS = f"""
WITH schemas AS (
    SELECT n.oid, n.nspname, EXISTS (
        SELECT FROM pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
        WHERE a.grantee = 0 AND a.privilege_type = 'CREATE') AS public_create
    FROM pg_catalog.pg_namespace n
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
), audit AS (
    SELECT c.oid, c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass('{TABLE}')
)
SELECT NULL, pg_catalog.quote_ident(s.nspname) FROM schemas s WHERE s.public_create
UNION ALL
SELECT pg_catalog.quote_ident(r.rolname), pg_catalog.quote_ident(s.nspname)
FROM pg_catalog.pg_roles r CROSS JOIN schemas s CROSS JOIN audit
WHERE r.rolcanlogin AND NOT r.rolsuper AND NOT s.public_create
    AND NOT pg_catalog.pg_has_role(r.oid, audit.relowner, 'USAGE')
    AND pg_catalog.has_table_privilege(r.oid, audit.oid, 'INSERT')
    AND pg_catalog.has_schema_privilege(r.oid, s.oid, 'CREATE')
ORDER BY 1 NULLS FIRST, 2
"""  # noqa: S608


def create_warnings(url: str) -> list[str]:
    """Who, besides the tables' owner and superusers, may CREATE in a schema of the database: PUBLIC, or a
    login role that may insert audit records. Such a role can name that schema first on its own `search_path`
    and put functions there; the triggers no longer look names up through it (version 4), but a replica's role
    should only insert and read. One sentence per schema and role, each with the REVOKE that ends it. Raises
    `psycopg.Error` as the database answers it."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        rows = conn.execute(CREATE_RISKS.encode()).fetchall()
    warnings = []
    for role, schema in rows:
        if role is None:
            warnings.append(
                f"PUBLIC may CREATE in schema {schema}, so every role, a replica's included, may put functions "
                f"there and name it first on its search_path; a replica's role should only insert and read: "
                f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC;"
            )
        else:
            warnings.append(
                f"role {role}, which may insert audit records, may CREATE in schema {schema} (directly or through "
                f"a role it belongs to); a replica's role should only insert and read: REVOKE CREATE ON SCHEMA "
                f"{schema} FROM {role};"
            )
    return warnings


def read_version(conn: Any) -> int | None:
    """The schema version through a synchronous connection (None: no schema; the audit table from before
    `db migrate`, with no version table, is version 1)."""
    versioned, audited = conn.execute(TABLES_PRESENT, (VERSION_TABLE, TABLE)).fetchone()
    if not versioned:
        return 1 if audited else None
    row = conn.execute(VERSION_QUERY.encode()).fetchone()
    return int(row[0]) if row else None


async def read_version_async(conn: Any) -> int | None:
    """`read_version` through an asynchronous connection."""
    cursor = await conn.execute(TABLES_PRESENT, (VERSION_TABLE, TABLE))
    versioned, audited = await cursor.fetchone()
    if not versioned:
        return 1 if audited else None
    row = await (await conn.execute(VERSION_QUERY.encode())).fetchone()
    return int(row[0]) if row else None

"""`scp-volume-mcp db migrate`: create or upgrade the team database's schema, as the tables' owner."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from .database import Database, TeamExtraMissing, is_database_url, mask_url, require_team_extra
from .schema import SCHEMA_VERSION, create_warnings, migrate


def run_migrate(out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    url = os.environ.get("SCP_DATABASE_URL", "").strip()
    if url and not is_database_url(url):
        print(f"scp-volume-mcp: SCP_DATABASE_URL must be a postgresql:// URL, not {mask_url(url)!r}", file=err)
        return 2
    if not url:
        print("scp-volume-mcp: db migrate needs SCP_DATABASE_URL (the team database's postgresql:// URL)", file=err)
        return 2

    try:
        require_team_extra()
    except TeamExtraMissing as exc:
        print(f"scp-volume-mcp: {exc}", file=err)
        return 2
    import psycopg

    try:
        before, after = migrate(url)
    except psycopg.Error as exc:
        print(f"scp-volume-mcp: db migrate failed on {mask_url(url)}: {Database(url).safe(exc)}", file=err)
        return 1
    if before == after:
        print(f"{mask_url(url)}: schema version {SCHEMA_VERSION}, already current", file=out)
    else:
        print(f"{mask_url(url)}: schema version {before or 'none'} -> {after}", file=out)
    try:
        warnings = create_warnings(url)
    except psycopg.Error as exc:
        warnings = [f"cannot tell which roles may CREATE in its schemas: {Database(url).safe(exc)}"]
    for warning in warnings:
        print(f"scp-volume-mcp: warning: {warning}", file=err)
    return 0

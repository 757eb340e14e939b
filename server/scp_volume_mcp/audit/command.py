"""`scp-volume-mcp audit`: read the audit trail from the configured backend (the JSON-lines file of
`SCP_AUDIT_LOG`, or the table of `SCP_DATABASE_URL`), one entry per attempt, oldest first: its outcome record,
or, when no outcome record answers its intent (same `attempt_id`), the intent shown as 'outcome unknown': the
process stopped, or lost its database, between sending and recording what happened."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import anyio

from ..settings import ServerSettings, SettingsError
from ..team.database import Database, DatabaseError, mask_url
from ..team.reader import read_rows
from ..untrusted_text import clean
from .file_trail import FileAuditTrail
from .open_attempts import OpenAttemptIndex
from .records import (
    DETAIL_LIMIT,
    UNKNOWN,
    AuditError,
    AuditRecord,
    attempts,
    endpoint_key,
    normalized,
    replica_name,
    same_endpoint,
)
from .table_trail import TableAuditTrail

logger = logging.getLogger("scp_volume_mcp")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TrailError(Exception):
    """The trail cannot be read; the message is safe to show."""


class MissingTrail(TrailError):
    """The trail's file does not exist (yet)."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC when no offset is given), or a duration back from now: 90m, 12h, 7d."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        try:
            return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise TrailError(f"--since {text!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TrailError(f"--since wants an ISO 8601 time such as 2026-11-27T09:00Z, or a duration such as 12h, "
                         f"not {text!r}") from None  # fmt: skip
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _when(entry: Mapping[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(entry["time"]))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def read_file(
    path: Path, *, volume_id: str | None = None, since: datetime | None = None, endpoint: str | None = None
) -> list[dict[str, Any]]:
    """Records of a JSON-lines trail and of its rotated files, oldest file first; the open attempts' lines a
    rotation carried into the next file are read once (a line that is not a record is reported and skipped).
    `endpoint`: only the records naming that endpoint (see `same_endpoint`)."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for part in [*FileAuditTrail(path).rotated_files(), path]:
        entries += _read_part(part, seen, volume_id=volume_id, since=since, endpoint=endpoint)
    return entries


def _read_part(
    path: Path, seen: set[str], *, volume_id: str | None, since: datetime | None, endpoint: str | None
) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TrailError(f"cannot read the audit log {path}: {exc.strerror or exc}") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line in seen:
            continue
        seen.add(line)
        try:
            entry = normalized(json.loads(line))
            when = _when(entry)
        except (ValueError, KeyError, TypeError):  # a torn write or a hand edit: said, and the rest still read
            logger.warning("%s:%d is not an audit record; skipped", path, number)
            continue
        if volume_id is not None and entry.get("volume_id") != volume_id:
            continue
        if since is not None and when < since:
            continue
        if endpoint is not None and not same_endpoint(entry, endpoint):
            continue
        entries.append(entry)
    return entries


def read_trail(
    settings: ServerSettings,
    *,
    volume_id: str | None = None,
    since: datetime | None = None,
    endpoint: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """(where the trail lives, its records marked), from whichever backend is configured."""
    where, records = read_records(settings, volume_id=volume_id, since=since, endpoint=endpoint)
    return where, mark_unknown(records)


def read_records(
    settings: ServerSettings,
    *,
    volume_id: str | None = None,
    since: datetime | None = None,
    endpoint: str | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """(where the trail lives, its records as stored), from whichever backend is configured; `endpoint`: only
    the records naming that endpoint (a record naming none, from before records did, is left out)."""
    if settings.database_url:
        try:
            rows = read_rows(settings.database_url, volume_id=volume_id, since=since, endpoint=endpoint)
        except DatabaseError as exc:
            raise TrailError(str(exc)) from None
        return mask_url(settings.database_url), [normalized(r) for r in rows]
    if settings.audit_log is None:
        raise TrailError("no audit trail is configured: set SCP_AUDIT_LOG (a file) or SCP_DATABASE_URL (team mode)")
    if not settings.audit_log.exists() and not FileAuditTrail(settings.audit_log).rotated_files():
        raise MissingTrail(
            f"no audit trail at {settings.audit_log}: the file does not exist (nothing has been recorded there; "
            "SCP_AUDIT_LOG names the file a server writes)"
        )
    return str(settings.audit_log), read_file(settings.audit_log, volume_id=volume_id, since=since, endpoint=endpoint)


def mark_unknown(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per attempt, oldest first: its outcome record, or its intent marked 'outcome unknown'."""
    return attempts(sorted(entries, key=_when))


FIELD_LIMIT = 128


def render(entry: Mapping[str, Any]) -> str:
    """One line for a person. A trail is written by this server, but a file can be edited: every field is
    cleaned and bounded, so a terminal gets no escape sequences."""

    def shown(key: str, limit: int = FIELD_LIMIT) -> str:
        value = entry.get(key)
        return clean(str(value), limit).text if value is not None else "?"

    phase = entry["phase"]
    if phase == "close":
        what = f"closed ({shown('outcome')})"
    else:
        what = shown("outcome") if phase == "outcome" or entry.get("outcome") == UNKNOWN else "intent"
    parts = [shown("time"), shown("volume_id"), f"{shown('previous_size_gb')} -> {shown('requested_size_gb')} GB", what,
             f"endpoint {shown('endpoint') if entry.get('endpoint') is not None else 'unknown'}"]  # fmt: skip
    for label, key in (("http", "http_status"), ("request", "request_id"), ("caller", "caller"),
                       ("client", "client_claimed"), ("replica", "replica"), ("attempt", "attempt_id"),
                       ("snapshot", "snapshot_id")):  # fmt: skip
        if entry.get(key) is not None:
            parts.append(f"{label} {shown(key)}")
    line = "  ".join(parts)
    return f"{line}  ({shown('detail', DETAIL_LIMIT)})" if entry.get("detail") else line


def run_audit(
    *,
    volume_id: str | None,
    since: str | None,
    as_json: bool,
    endpoint: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        settings = ServerSettings.from_env()
        moment = parse_since(since) if since else None
        if endpoint is not None and not endpoint_key(endpoint):
            raise TrailError("--endpoint wants the URL of an SCP endpoint, such as https://openapi.example.com")
        where, entries = read_trail(settings, volume_id=volume_id, since=moment, endpoint=endpoint)
    except MissingTrail as exc:
        print(f"scp-volume-mcp: {exc}", file=err)
        return 1
    except (SettingsError, TrailError) as exc:
        print(f"scp-volume-mcp: {exc}", file=err)
        return 2
    if as_json:
        for entry in entries:
            # ASCII only: a trail file can be edited, and a terminal must not receive its control characters.
            print(json.dumps(entry, ensure_ascii=True, separators=(",", ":")), file=out)
        return 0
    print(f"audit trail: {where} ({len(entries)} record{'' if len(entries) == 1 else 's'})", file=err)
    for entry in entries:
        print(render(entry), file=out)
    return 0


def run_close(attempt_id: str, *, reason: str | None, err: TextIO | None = None) -> int:
    """`audit --close ATTEMPT_ID`: an operator settles an open attempt (one whose resize may still be under
    way) after checking the volume, so that it no longer blocks another resize; recorded as a `close`."""
    err = err or sys.stderr
    try:
        settings = ServerSettings.from_env()
        _, records = read_records(settings)
        index = OpenAttemptIndex()
        for entry in records:
            index.add(entry)
        found = index.find(attempt_id)
        if found is None:
            raise TrailError(f"no open attempt {attempt_id!r} in the audit trail (see `scp-volume-mcp audit`)")
        record = AuditRecord(
            phase="close", attempt_id=attempt_id, tool="extend_volume", volume_id=found.volume_id,
            previous_size_gb=None, requested_size_gb=found.target_gb, outcome="closed by hand", api_version=None,
            detail=reason or "closed by an operator", replica=replica_name(), endpoint=found.endpoint,
        )  # fmt: skip
        anyio.run(_write, settings, record)
    except (SettingsError, TrailError, AuditError) as exc:
        print(f"scp-volume-mcp: {exc}", file=err)
        return 2
    print(f"closed attempt {attempt_id}: it no longer blocks a resize of volume {record.volume_id}", file=err)
    return 0


async def _write(settings: ServerSettings, record: AuditRecord) -> None:
    if settings.database_url:
        database = Database(settings.database_url)
        try:
            await TableAuditTrail(database).write(record)
        finally:
            await database.aclose()
    else:
        await FileAuditTrail(settings.audit_log).write(record)

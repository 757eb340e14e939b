"""`scp-volume-mcp audit` over the JSON-lines trail (the database trail: tests/team/test_replicas.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scp_volume_mcp.audit import AuditRecord
from scp_volume_mcp.audit.command import parse_since
from scp_volume_mcp.cli import main

RECORDS = [
    {"time": "2026-11-27T09:00:00.000+00:00", "tool": "extend_volume", "volume_id": "v-old", "previous_size_gb": 64,
     "requested_size_gb": 72, "outcome": "completed", "api_version": "1.3", "http_status": 202, "client": "cli"},
    {"time": "2026-11-27T10:00:00.000+00:00", "phase": "intent", "attempt_id": "a1", "tool": "extend_volume",
     "volume_id": "v-1", "previous_size_gb": 100, "requested_size_gb": 104, "outcome": None, "caller": "alice"},
    {"time": "2026-11-27T10:00:01.000+00:00", "phase": "outcome", "attempt_id": "a1", "tool": "extend_volume",
     "volume_id": "v-1", "previous_size_gb": 100, "requested_size_gb": 104, "outcome": "accepted",
     "http_status": 202, "caller": "alice"},
    {"time": "2026-11-27T11:00:00.000+00:00", "phase": "intent", "attempt_id": "a2", "tool": "extend_volume",
     "volume_id": "v-1", "previous_size_gb": 104, "requested_size_gb": 112, "outcome": None, "caller": "bob"},
]  # fmt: skip


@pytest.fixture
def trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    monkeypatch.setenv("SCP_AUDIT_LOG", str(path))
    monkeypatch.delenv("SCP_DATABASE_URL", raising=False)
    return path


def test_text_shows_an_unanswered_intent_as_outcome_unknown(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # one line per attempt
    assert "v-old" in lines[0]
    assert "completed" in lines[0]
    assert "client cli" in lines[0]
    assert "accepted" in lines[1]
    assert "caller alice" in lines[1]
    assert "outcome unknown" in lines[2]
    assert "caller bob" in lines[2]
    assert "outcome unknown" not in "".join(lines[:2])


def test_json_filters_by_volume_and_time(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--json", "--volume", "v-1", "--since", "2026-11-27T10:00:00.500Z"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["phase"], r["attempt_id"], r["outcome"]) for r in records] == [
        ("outcome", "a1", "accepted"),
        ("intent", "a2", "outcome unknown"),
    ]


def test_since_takes_durations_and_refuses_nonsense(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    assert parse_since("2026-11-27", now) == datetime(2026, 11, 27, tzinfo=UTC)
    assert main(["audit", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err


def test_no_trail_configured_says_how(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SCP_AUDIT_LOG", "off")
    monkeypatch.delenv("SCP_DATABASE_URL", raising=False)
    assert main(["audit"]) == 2
    assert "SCP_DATABASE_URL" in capsys.readouterr().err


def test_a_duration_past_the_year_one_is_refused_not_a_traceback(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--since", "99999999999w"]) == 2
    err = capsys.readouterr().err
    assert "--since" in err
    assert "Traceback" not in err


def test_json_output_carries_no_raw_control_characters(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = {**RECORDS[0], "volume_id": "v\u009b31m\u202eevil", "attempt_id": "h1", "phase": "outcome"}
    trail.write_text(trail.read_text() + json.dumps(hostile, ensure_ascii=False) + "\n")
    assert main(["audit", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.isascii()
    assert any(json.loads(line)["volume_id"] == "v\u009b31m\u202eevil" for line in out.splitlines())


def test_a_malformed_database_url_is_a_clear_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCP_AUDIT_LOG", raising=False)
    monkeypatch.setenv("SCP_DATABASE_URL", "postgresql://u:s3cret@[::1:1/db")
    assert main(["audit"]) == 2
    err = capsys.readouterr().err
    assert "SCP_DATABASE_URL" in err
    assert "s3cret" not in err
    assert "Traceback" not in err


EMULATOR, REAL = "http://127.0.0.1:8080", "https://openapi.samsungsdscloud.com"


def _attempt(attempt_id: str, endpoint: str | None, outcome: str = "completed") -> list[dict[str, object]]:
    """An attempt's intent and outcome as the trail stores them (`endpoint` None: from before records named it)."""
    common = {"attempt_id": attempt_id, "tool": "extend_volume", "volume_id": "v-1", "previous_size_gb": 100,
              "requested_size_gb": 104, "api_version": "1.3"}  # fmt: skip
    intent = AuditRecord(phase="intent", outcome=None, endpoint=endpoint, **common)  # type: ignore[arg-type]
    done = AuditRecord(phase="outcome", outcome=outcome, endpoint=endpoint, resize_pending=outcome == "accepted",
                       **common)  # type: ignore[arg-type]  # fmt: skip
    lines = [json.loads(intent.line()), json.loads(done.line())]
    if endpoint is None:  # a line written before the field existed has no key at all
        for line in lines:
            del line["endpoint"]
    return lines


def test_every_record_carries_its_endpoint_and_none_by_default() -> None:
    record = AuditRecord(phase="intent", attempt_id="a", tool="extend_volume", volume_id="v", previous_size_gb=1,
                         requested_size_gb=2, outcome=None, api_version=None)  # fmt: skip
    assert record.endpoint is None
    assert json.loads(record.line())["endpoint"] is None
    assert json.loads(replace(record, endpoint=EMULATOR).line())["endpoint"] == EMULATOR


def test_audit_shows_one_endpoints_records_and_older_ones_as_unknown(
    trail: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _attempt("old", None) + _attempt("rehearsal", EMULATOR) + _attempt("real", REAL)
    trail.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ["endpoint unknown" in lines[0], f"endpoint {EMULATOR}" in lines[1], f"endpoint {REAL}" in lines[2]] == [
        True, True, True
    ]  # fmt: skip
    assert main(["audit", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["attempt_id"], r["endpoint"]) for r in shown] == [("old", None), ("rehearsal", EMULATOR), ("real", REAL)]
    # One endpoint's records, however its URL is spelled (case, a trailing slash); unknown ones are left out.
    assert main(["audit", "--json", "--endpoint", f"{EMULATOR}/"]) == 0
    assert [json.loads(line)["attempt_id"] for line in capsys.readouterr().out.splitlines()] == ["rehearsal"]
    assert main(["audit", "--endpoint", REAL.upper()]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert f"endpoint {REAL}" in line
    assert main(["audit", "--endpoint", "https://elsewhere.example"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "--endpoint", " / "]) == 2
    assert "--endpoint" in capsys.readouterr().err


def test_closing_an_attempt_by_hand_names_its_endpoint(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trail.write_text("".join(json.dumps(r) + "\n" for r in _attempt("a-open", EMULATOR, outcome="accepted")))
    assert main(["audit", "--close", "a-open", "--reason", "checked: 104 GB"]) == 0
    close = json.loads(trail.read_text().splitlines()[-1])
    assert (close["phase"], close["endpoint"]) == ("close", EMULATOR)
    assert main(["audit", "--json", "--endpoint", EMULATOR]) == 0
    phases = [json.loads(line)["phase"] for line in capsys.readouterr().out.splitlines()]
    assert phases == ["outcome", "close"]

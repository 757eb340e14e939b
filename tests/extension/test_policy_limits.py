"""The team policy's limits hold through a real MCP client against the emulator: each limit at, below and above
its value, refusals that name the rule and send nothing (the emulator's journal), the last day's growth counted
from the audit trail across servers and in the team database, the plan naming the rule, and a policy this server
cannot enforce stopping it at start."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp.audit import FileAuditTrail
from scp_volume_mcp.audit.recent_growth import RecentGrowthIndex
from scp_volume_mcp.doctor import run_doctor
from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.policy import Policy, load_policy
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
from scp_volume_mcp.settings import ServerSettings, SettingsError

from ..mcp_helpers import connect, text
from ..mcp_server.test_transports import scp_env

ARGS = {"volume_id": EXAMPLE_VOLUME_ID, "confirm": True}
"""The example volume has 100 GB."""


def _policy(tmp_path: Path, limits: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(f"[limits]\n{limits}\n", encoding="utf-8")
    return load_policy(path)


def _settings(tmp_path: Path, policy: Policy, **extra: Any) -> ServerSettings:
    return ServerSettings(confirmation="flag", poll_interval_s=0.05, audit_log=tmp_path / "audit.jsonl",
                          policy=policy, **extra)  # fmt: skip


def _outcomes(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    return [json.loads(line)["outcome"] for line in lines if json.loads(line)["phase"] == "outcome"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("limit", "target", "sent"),
    [
        ("max_size_gb = 200", 192, True),  # below
        ("max_size_gb = 200", 200, True),  # at
        ("max_size_gb = 200", 208, False),  # above
        ("max_growth_gb = 60", 152, True),
        ("max_growth_gb = 60", 160, True),
        ("max_growth_gb = 60", 168, False),
        ("daily_growth_gb = 60", 160, True),
        ("daily_growth_gb = 60", 168, False),
    ],
)
async def test_each_limit_at_below_and_above(
    emulator: EmulatorServer, tmp_path: Path, limit: str, target: int, sent: bool
) -> None:
    policy = _policy(tmp_path, limit)
    async with connect(emulator, settings=_settings(tmp_path, policy)) as session:
        result = await session.call("extend_volume", {**ARGS, "new_size_gb": target})
    puts = [p.body for p in emulator.state.requests("PUT")]
    if sent:
        assert not result.is_error, text(result)
        assert puts == [{"size": target}]
        assert _outcomes(tmp_path) in (["accepted"], ["completed"])
        return
    rule = limit.replace(" = ", " ")
    assert result.is_error
    assert f"limit: {rule} (policy file)" in text(result)
    assert "Nothing was sent" in text(result)
    assert result.structured_content is not None
    assert result.structured_content["reasons"] == ["policy"]
    assert puts == []
    assert _outcomes(tmp_path) == ["refused"]


@pytest.mark.anyio
async def test_the_plan_names_the_rule(emulator: EmulatorServer, tmp_path: Path) -> None:
    policy = _policy(tmp_path, "max_growth_gb = 60\nmax_size_gb = 4096")
    async with connect(emulator, settings=_settings(tmp_path, policy)) as session:
        refused = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 200})
        fits = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 160})
    plan = refused.structured_content
    assert plan is not None
    assert plan["would_be_accepted"] is False
    assert plan["policy_rules"] == ["limit: max_growth_gb 60 (policy file)"]
    assert "limit: max_growth_gb 60 (policy file): one extension adds at most 60 GB; this one adds 100 GB" in text(
        refused
    )
    assert fits.structured_content is not None
    assert fits.structured_content["would_be_accepted"] is True
    assert fits.structured_content["policy_rules"] == []
    assert emulator.state.requests("PUT") == []


@pytest.mark.anyio
async def test_the_daily_growth_counts_earlier_extensions_also_after_a_restart(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "daily_growth_gb = 60")
    settings = _settings(tmp_path, policy)
    async with connect(emulator, settings=settings) as session:
        first = await session.call("extend_volume", {**ARGS, "new_size_gb": 136, "wait": True})
    assert not first.is_error, text(first)
    # A new server on the same trail: what a host restarting a stdio server reads.
    async with connect(emulator, settings=settings) as session:
        over = await session.call("extend_volume", {**ARGS, "new_size_gb": 168, "wait": True})
        at = await session.call("extend_volume", {**ARGS, "new_size_gb": 160, "wait": True})
        plan = await session.call("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 168})
    assert over.is_error
    assert "it grew 36 GB already (the audit trail), and 32 GB more would make 68 GB" in text(over)
    assert not at.is_error, text(at)
    assert "limit: daily_growth_gb 60 (policy file)" in text(plan)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 136}, {"size": 160}]


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_daily_growth_is_counted_from_the_team_database(emulator: EmulatorServer, tmp_path: Path,
                                                                   team_db: str) -> None:  # fmt: skip
    policy = _policy(tmp_path, "daily_growth_gb = 60")
    settings = ServerSettings(confirmation="flag", poll_interval_s=0.05, database_url=team_db, policy=policy)
    async with connect(emulator, settings=settings) as session:
        first = await session.call("extend_volume", {**ARGS, "new_size_gb": 136, "wait": True})
    async with connect(emulator, settings=settings) as session:  # another replica
        over = await session.call("extend_volume", {**ARGS, "new_size_gb": 168, "wait": True})
    assert not first.is_error, text(first)
    assert over.is_error
    assert "it grew 36 GB already" in text(over)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 136}]


def test_growth_counts_what_may_have_been_applied_and_not_what_was_never_sent() -> None:
    index = RecentGrowthIndex()
    now = "2026-12-02T10:00:00.000+00:00"

    def record(attempt: str, phase: str, outcome: str | None = None, pending: bool | None = None) -> dict[str, Any]:
        return {"attempt_id": attempt, "phase": phase, "volume_id": "v", "previous_size_gb": 100,
                "requested_size_gb": 108, "outcome": outcome, "resize_pending": pending, "time": now}  # fmt: skip

    index.add(record("completed", "outcome", "completed", False))  # an outcome before its intent still counts
    for attempt, outcome, pending in [("completed", "completed", False), ("accepted", "accepted", True),
                                      ("unknown", None, None), ("refused-by-platform", "failed", False),
                                      ("never-sent", "refused", False)]:  # fmt: skip
        index.add(record(attempt, "intent"))
        if outcome is not None:
            index.add(record(attempt, "outcome", outcome, pending))
    index.add(record("early-refusal", "outcome", "failed", False))
    index.add(record("early-refusal", "intent"))  # its outcome came first (another process's line)
    from datetime import datetime

    at = datetime.fromisoformat(now)
    assert index.grown_gb("v", now=at) == 3 * 8  # completed, accepted, outcome unknown
    assert index.grown_gb("v", now=at, exclude="unknown") == 2 * 8
    assert index.grown_gb("other", now=at) == 0
    assert index.grown_gb("v", now=at.replace(day=3, hour=10, second=1)) == 0  # a day later


def test_the_last_days_growth_is_read_across_rotations_and_not_carried(tmp_path: Path) -> None:
    from scp_volume_mcp.audit import AuditRecord

    log = tmp_path / "audit.jsonl"
    trail = FileAuditTrail(log, max_bytes=2000)
    for n in range(12):
        attempt = f"a{n}"
        for phase, outcome in (("intent", None), ("outcome", "completed")):
            trail.append(AuditRecord(phase=phase, attempt_id=attempt, tool="extend_volume", volume_id="v",  # type: ignore[arg-type]
                                     previous_size_gb=100 + 8 * n, requested_size_gb=108 + 8 * n, outcome=outcome,
                                     api_version="1.3"))  # fmt: skip
    assert trail.rotated_files(), "the test meant to rotate the trail"
    assert log.stat().st_size < 2000 + 1000, "a settled attempt is not carried into the new file"
    assert trail._recent_growth_gb("v", None) == 12 * 8
    assert FileAuditTrail(log)._recent_growth_gb("v", None) == 12 * 8  # read afresh
    oldest = trail.rotated_files()[0]
    in_oldest = sum(1 for line in oldest.read_text(encoding="utf-8").splitlines() if '"intent"' in line)
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(oldest, (day_ago, day_ago))  # last written before the window: its attempts are a day old too
    assert FileAuditTrail(log)._recent_growth_gb("v", None) == (12 - in_oldest) * 8


def test_a_policy_this_server_cannot_enforce_stops_it(tmp_path: Path) -> None:
    approval = tmp_path / "approval.toml"
    approval.write_text('[limits]\nmax_size_gb = 4096\n[approval]\nprotected = ["prod-*"]\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r'approval: protected "prod-\*" \(policy file\)') as raised:
        ServerSettings.from_env({"SCP_POLICY_FILE": str(approval)})
    assert str(approval) in str(raised.value)
    assert "SCP_MCP_OAUTH_ISSUER" in str(raised.value.fix)
    team = {"SCP_POLICY_FILE": str(approval), "SCP_DATABASE_URL": "postgresql://scp@db.invalid/scp"}
    with pytest.raises(SettingsError, match="second person"):  # the database alone names nobody
        ServerSettings.from_env(team)
    oauth = {"SCP_MCP_OAUTH_ISSUER": "https://login.example", "SCP_MCP_OAUTH_AUDIENCE": "https://mcp.example/mcp"}
    assert ServerSettings.from_env({**team, **oauth}).policy is not None
    daily = tmp_path / "daily.toml"
    daily.write_text("[limits]\ndaily_growth_gb = 100\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="counted from the audit trail, and the trail is off"):
        ServerSettings.from_env({"SCP_POLICY_FILE": str(daily), "SCP_AUDIT_LOG": "off"})
    assert ServerSettings.from_env({"SCP_POLICY_FILE": str(daily), "SCP_AUDIT_LOG": str(tmp_path / "a.jsonl")})


@pytest.mark.slow
def test_serve_refuses_to_start_with_a_bad_policy_file(emulator: EmulatorServer, tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text("[limits]\nmax_growth_gb = '1024'\n", encoding="utf-8")
    env = {**os.environ, **scp_env(emulator, SCP_POLICY_FILE=str(bad))}
    done = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "serve"], env=env, input="", capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{bad}: limits.max_growth_gb = '1024' is not valid: expected a positive whole number" in done.stderr
    assert done.stdout == ""


def test_doctor_shows_the_policy(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SCP_")]:
        monkeypatch.delenv(name)
    for name, value in scp_env(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    path = tmp_path / "policy.toml"
    path.write_text("[limits]\nmax_growth_gb = 1024\n", encoding="utf-8")
    monkeypatch.setenv("SCP_POLICY_FILE", str(path))
    out = io.StringIO()
    assert run_doctor(out) == 0, out.getvalue()
    assert f"team policy {path} (SCP_POLICY_FILE): limit: max_growth_gb 1024 (policy file)" in out.getvalue()
    path.write_text("[limits]\nmax_growth_gb = 0\n", encoding="utf-8")
    out = io.StringIO()
    assert run_doctor(out) == 1
    assert "limits.max_growth_gb = 0 is not valid" in out.getvalue()
    assert "fix:" in out.getvalue()

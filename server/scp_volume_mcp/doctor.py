"""`scp-volume-mcp doctor`: is this machine ready to extend volumes? Says what is wrong and how to fix it."""

from __future__ import annotations

import sys
from typing import TextIO

import anyio

from .audit import AuditError, AuditLog
from .messages import clock_skew_s, explain
from .scp import ScpClient, ScpConfig, ScpError, ScpTransportError, check_api_version, credentials_exposure, load_config
from .settings import ServerSettings, SettingsError

MAX_SKEW_S = 60.0
_SNAPSHOT_POLICY = {
    "optional": "extend_volume snapshots first when called with snapshot_first=true",
    "required": "every extension snapshots first",
    "off": "extend_volume does not offer snapshot_first",
}


def _mask(value: str, *, secret: bool) -> str:
    if secret:
        return f"******** ({len(value)} characters)"
    return value[:4] + "…" if len(value) > 6 else "****"


class _Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems = 0

    def ok(self, text: str) -> None:
        print(f"  ok    {text}", file=self.out)

    def info(self, text: str) -> None:
        print(f"        {text}", file=self.out)

    def warn(self, text: str) -> None:
        print(f"  warn  {text}", file=self.out)

    def fail(self, text: str, fix: str) -> None:
        self.problems += 1
        print(f"  FAIL  {text}\n        fix: {fix}", file=self.out)


def _settings(report: _Report, config: ScpConfig) -> None:
    print("Settings (highest source wins: arguments, environment, ~/.scpconf):", file=report.out)
    rows = [
        ("access key", "access_key", _mask(config.access_key, secret=False)),
        ("secret key", "secret_key", _mask(config.secret_key.get_secret_value(), secret=True)),
        ("endpoint", "endpoint", config.endpoint or "(discovered on first use, below)"),
        ("region", "region", config.region or "-"),
        ("environment", "environment", config.environment or "-"),
        ("auth URL", "auth_url", config.auth_url or "-"),
        ("API version", "api_version", config.api_version),
        ("timeout", "timeout_s", f"{config.timeout_s:g} s"),
    ]
    for label, key, value in rows:
        report.info(f"{label:12} {value:60} [{config.sources.get(key, 'default')}]")


async def _probe(report: _Report, config: ScpConfig) -> None:
    print("Connectivity:", file=report.out)
    async with ScpClient(config) as client:
        if config.endpoint is None:
            try:
                found = await client.resolve_endpoint()
            except ScpError as exc:
                report.fail(str(exc), "check SCP_AUTH_URL / SCP_REGION, or set SCP_ENDPOINT")
                return
            report.ok(f"endpoint {found} [{config.sources.get('endpoint', 'discovered')}]")
        endpoint = client.endpoint
        try:
            probe = await client.probe()
        except ScpTransportError as exc:
            report.fail(f"{endpoint} does not answer: {exc}", "check SCP_ENDPOINT / region, and the network")
            return
    report.ok(f"{endpoint} answers (HTTP {probe.status})")
    skew = clock_skew_s(probe.date_header)
    if skew is None:
        report.warn("the server sent no Date header; the clock offset is unknown")
    elif abs(skew) > MAX_SKEW_S:
        report.fail(
            f"this machine's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the server's",
            "synchronise the clock (NTP); signatures carry a timestamp",
        )
    else:
        report.ok(f"clock offset from the server: {skew:+.1f} s")
    if probe.error is None:
        report.ok("a signed read (GET /v1/volumes?limit=1) was accepted")
    else:
        report.fail(f"a signed read was refused: {explain(probe.error)}", probe.error.hint or "see the message above")


def run_doctor(out: TextIO = sys.stdout) -> int:
    report = _Report(out)
    print("scp-volume-mcp doctor", file=out)
    try:
        config = load_config()
    except ScpError as exc:
        report.fail(str(exc), "set the missing values, then run doctor again")
        return 1
    _settings(report, config)
    if exposure := credentials_exposure():
        report.warn(exposure)

    print("API version:", file=out)
    try:
        status = check_api_version(config.api_version)
    except ScpError as exc:
        report.fail(str(exc), "set SCP_API_VERSION to the current version")
    else:
        date = status.not_before.isoformat() if status.not_before else "no end date"
        report.ok(f"{status.version}: {status.state.lower()}, {date}")
        if status.warning:
            report.warn(status.warning)
        anyio.run(_probe, report, config)

    print("Server:", file=out)
    try:
        settings = ServerSettings.from_env()
    except SettingsError as exc:
        report.fail(str(exc), "correct the variable named above")
    else:
        report.ok(f"confirmation policy {settings.confirmation}; read-only {'on' if settings.read_only else 'off'}")
        policy = settings.snapshot_policy
        report.ok(f"snapshot policy {policy} (SCP_SNAPSHOT_POLICY): {_SNAPSHOT_POLICY[policy]}")
        try:
            where = AuditLog(settings.audit_log).probe()
        except AuditError as exc:
            report.fail(str(exc), "make the file writable or change SCP_AUDIT_LOG; extensions are refused until then")
        else:
            report.ok(f"audit log: {where if settings.audit_log else 'off (set SCP_AUDIT_LOG to keep one)'}")
    print("All good." if report.problems == 0 else f"{report.problems} problem(s) found.", file=out)
    return 0 if report.problems == 0 else 1

"""`scp-volume-mcp doctor`: is this machine ready to extend volumes? Says what is wrong and how to fix it."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import anyio

from .audit import AuditError, FileAuditTrail
from .audit.table_trail import TableAuditTrail
from .issuer_check import check_issuer
from .jwks import OAuthConfigError
from .messages import clock_skew_s, plural, trail_notice
from .oauth import AUDIENCE_ENV, ISSUER_ENV, OAuthSettings
from .scp import (
    CURRENT_API_VERSION,
    ScpClient,
    ScpConfig,
    ScpConfigError,
    ScpError,
    ScpForbidden,
    ScpTransportError,
    ScpUnauthorized,
    ScpVersionRejected,
    check_api_version,
    config_dir,
    credentials_exposure,
)
from .settings import ScpSettingsCheck, ServerSettings, SettingsError, check_scp_settings, oauth_variables
from .team.database import (
    CONNECT_TIMEOUT_S,
    TEAM_EXTRA_INSTALL,
    Database,
    TeamExtraMissing,
    mask_url,
    require_team_extra,
)
from .untrusted_text import clean

MAX_SKEW_S = 60.0
_SNAPSHOT_POLICY = {
    "optional": "extend_volume snapshots first when called with snapshot_first=true",
    "required": "every extension snapshots first",
    "off": "extend_volume does not offer snapshot_first",
}


def _mask(value: str, *, secret: bool) -> str:
    if secret:
        return f"******** ({plural(len(value), 'character')})"
    return value[:4] + "…" if len(value) > 6 else "****"


LINE_LIMIT = 600


class _Report:
    """Prints the checks. Every line passes untrusted_text.clean: error texts may carry the platform's words, and a
    terminal must not receive their escape sequences."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems = 0
        self._failed: set[str] = set()

    def _print(self, mark: str, text: str) -> None:
        print(f"  {mark:5} {clean(text, LINE_LIMIT).text}", file=self.out)

    def ok(self, text: str) -> None:
        self._print("ok", text)

    def info(self, text: str) -> None:
        self._print("", text)

    def warn(self, text: str) -> None:
        self._print("warn", text)

    def fail(self, text: str, fix: str) -> None:
        if text.rstrip(".") in self._failed:  # one cause, found by two checks (SCP_TIMEOUT): said once
            return
        self._failed.add(text.rstrip("."))
        self.problems += 1
        self._print("FAIL", text)
        self._print("", f"fix: {fix}")


def _settings(report: _Report, config: ScpConfig) -> None:
    folder = config_dir(os.environ)
    print(f"Settings (highest source wins: arguments, environment, {folder}):", file=report.out)
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
                report.fail(str(exc), "check SCP_AUTH_URL and SCP_REGION, or set SCP_ENDPOINT to skip discovery")
                return
            report.ok(f"endpoint {found} [{config.sources.get('endpoint', 'discovered')}]")
        endpoint = client.endpoint
        try:
            probe = await client.probe()
        except ScpTransportError as exc:
            report.fail(f"{endpoint} cannot be reached: {exc}", _transport_fix(exc, config))
            return
    report.ok(f"{endpoint} is reachable (it answered HTTP {probe.status})")
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
    error = probe.error
    if error is None:
        report.ok("a signed read (GET /v1/volumes?limit=1) was accepted")
    elif isinstance(error, ScpUnauthorized):
        keys = f"access key from {_source(config, 'access_key')}, secret key from {_source(config, 'secret_key')}"
        report.fail(
            f"{endpoint} refuses these keys (401: {error.detail})",
            f"use a valid key pair of this account from the SCP console ({keys})",
        )
    elif isinstance(error, ScpForbidden):
        report.fail(
            f"{endpoint} accepts the keys but forbids reading volumes (403: {error.detail})",
            "grant this key's user permission for Virtual Server volumes (IAM), or use another key pair",
        )
    elif isinstance(error, ScpVersionRejected):
        report.fail(str(error), "set SCP_API_VERSION to a version the platform lists as current")
    else:
        report.fail(f"a signed read was refused: {error}", error.hint or f"check the endpoint ({_source(config)})")


def _source(config: ScpConfig, key: str = "endpoint") -> str:
    return config.sources.get(key, "default")


def _transport_fix(exc: ScpTransportError, config: ScpConfig) -> str:
    """One concrete fix per reason a connection failed."""
    source = _source(config)
    if exc.reason == "refused":
        return f"check the port of the endpoint ({source}), or start the service there (scp-volume-mcp emulator)"
    if exc.reason == "name":
        return (
            f"correct the host name of the endpoint ({source}); SCP's is "
            "virtualserver.<region>.<environment>.samsungsdscloud.com (SCP_REGION, SCP_ENVIRONMENT)"
        )
    if exc.reason == "tls":
        return (
            "make this machine trust the server's certificate (SSL_CERT_FILE=<CA bundle>; verification cannot be "
            f"switched off), or correct the endpoint ({source}) if it is not SCP's"
        )
    if exc.reason == "timeout":
        return f"check the network path (firewall, proxy: HTTPS_PROXY) to the endpoint ({source}), or raise SCP_TIMEOUT"
    return f"check the endpoint ({source}) and the network, then run doctor again"


def _team_trail(report: _Report, url: str, lock_timeout_s: float) -> None:
    """Team mode: the database holds the locks and the trail; check it as the server will use it, after one
    plain connection, whose refusal carries the database's own words (a wrong password, an unknown database),
    which the server's pool would only log."""

    try:
        require_team_extra()
    except TeamExtraMissing as exc:
        report.fail(str(exc), TEAM_EXTRA_INSTALL)
        return

    async def check() -> None:
        database = Database(url, lock_timeout_s=lock_timeout_s)
        try:
            await _connect_once(url, database)
            await TableAuditTrail(database).check_writable()
        finally:
            await database.aclose()

    try:
        anyio.run(check)
    except AuditError as exc:
        if "password authentication failed" in str(exc):
            fix = "correct the user name or password in SCP_DATABASE_URL (the database refused them)"
        else:
            fix = "check SCP_DATABASE_URL and that PostgreSQL answers; extensions are refused until then"
        report.fail(str(exc), fix)
    else:
        report.ok(f"audit trail and volume locks: PostgreSQL {mask_url(url)} (table writable)")


async def _connect_once(url: str, database: Database) -> None:
    """Connect once, outside the pools; raises `AuditError` with the database's own error, password masked."""
    import psycopg

    try:
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except psycopg.Error as exc:
        raise AuditError(f"cannot connect to the database {database.display_url}: {database.safe(exc)}") from None
    await connection.close()


def _configuration(report: _Report) -> ScpSettingsCheck:
    """The SCP client's settings and where each came from, every problem found (`check_scp_settings`, which
    `serve` says at start in the same words)."""
    check = check_scp_settings()
    for problem in check.problems:
        report.fail(str(problem), problem.fix or "correct the setting named above, then run doctor again")
    if check.config is not None:
        _settings(report, check.config)
        for warning in check.config.warnings:
            report.warn(warning)
    if exposure := credentials_exposure():
        report.warn(exposure)
    return check


def _api_version(report: _Report, version: str, source: str) -> str:
    """The configured API version's status. The version the checks below use: the current one instead of one
    that is refused."""
    print("API version:", file=report.out)
    try:
        status = check_api_version(version)
    except ScpConfigError as exc:
        fix = f"set SCP_API_VERSION={CURRENT_API_VERSION}, the current version ({source})"
        said, _, last = str(exc).rpartition("; ")
        if said and f"SCP_API_VERSION={CURRENT_API_VERSION}" in last:  # its last sentence is the fix: said once
            report.fail(said + ".", fix)
        else:
            report.fail(str(exc), fix)
        report.info(f"the checks below use API version {CURRENT_API_VERSION}")
        return CURRENT_API_VERSION
    date = status.not_before.isoformat() if status.not_before else "no end date"
    report.ok(f"{status.version}: {status.state.lower()}, {date}")
    if status.warning:
        report.warn(status.warning)
    return version


def _file_trail(report: _Report, path: Path | None, *, default: bool) -> None:
    """The audit trail's file (SCP_AUDIT_LOG, else the default place), checked writable; or a warning when off."""
    if path is None:
        report.warn(trail_notice(None, default=False).removeprefix("warning: "))
        return
    if default:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        where = FileAuditTrail(path).probe()
    except AuditError as exc:
        report.fail(str(exc), "make the file writable or change SCP_AUDIT_LOG; extensions are refused until then")
    else:
        report.ok(trail_notice(where, default=default))


def _empty_policy(path: Path | None) -> str:
    """A policy file without a rule: said as such (empty, comments only, or tables without keys). A warning, not
    a failure: the server runs with it, as without a file; but whoever set SCP_POLICY_FILE meant some limit."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()] if path else []
    except (OSError, UnicodeDecodeError):
        lines = []
    lines = [line for line in lines if line]
    if not lines:
        what = "is empty"
    elif all(line.startswith("#") for line in lines):
        what = "holds only comments"
    else:
        what = "sets no rules"
    return (
        f"team policy {path} (SCP_POLICY_FILE) {what}: no limits and no approval rules apply beyond the "
        "platform's; add keys under [limits] or [approval], or unset SCP_POLICY_FILE"
    )


def _server(report: _Report) -> None:
    """The server's own settings and its audit trail."""
    print("Server:", file=report.out)
    try:
        settings = ServerSettings.from_env()
    except SettingsError as exc:
        report.fail(str(exc), exc.fix or "correct the variable named above")
        return
    report.ok(f"confirmation policy {settings.confirmation}; read-only {'on' if settings.read_only else 'off'}")
    policy = settings.snapshot_policy
    report.ok(f"snapshot policy {policy} (SCP_SNAPSHOT_POLICY): {_SNAPSHOT_POLICY[policy]}")
    if settings.policy is None:
        report.info("no team policy file (SCP_POLICY_FILE): no limits beyond the platform's")
    else:
        rules = settings.policy.describe()
        if rules:
            report.ok(f"team policy {settings.policy.source} (SCP_POLICY_FILE): " + "; ".join(rules))
        else:
            report.warn(_empty_policy(settings.policy.source))
    if settings.database_url:
        _team_trail(report, settings.database_url, settings.lock_timeout_s)
    else:
        _file_trail(report, settings.audit_log, default=settings.audit_log_default)


def _oauth(report: _Report) -> None:
    """With OAuth set: the issuer's metadata and signing keys fetched as the server fetches them, so that an
    issuer the server cannot use fails here instead of every client getting 401."""
    names = oauth_variables()
    if not names:
        return

    print("OAuth:", file=report.out)
    report.info("used by `serve --transport http` only (over stdio these variables do nothing)")
    try:
        settings = OAuthSettings.from_env(os.environ)
    except OAuthConfigError as exc:
        report.fail(str(exc), f"set {ISSUER_ENV} and {AUDIENCE_ENV}, each an https:// URL (plain http on loopback)")
        return
    if settings is None:
        report.warn(f"{', '.join(names)} set without {ISSUER_ENV} and {AUDIENCE_ENV}: OAuth is off")
        return
    anyio.run(_issuer, report, settings.issuer)


async def _issuer(report: _Report, issuer: str) -> None:
    verdict = await check_issuer(issuer)
    if verdict.fix is None:
        report.ok(verdict.line)
    else:
        report.fail(verdict.line, verdict.fix)


def run_doctor(out: TextIO = sys.stdout) -> int:
    report = _Report(out)
    print("scp-volume-mcp doctor", file=out)
    check = _configuration(report)
    if check.config is not None:
        version = _api_version(report, check.config.api_version, _source(check.config, "api_version"))
        anyio.run(_probe, report, replace(check.config, api_version=version))
    else:  # the keys or the endpoint are missing: the version is still checked, so that it is not found later
        source = "environment SCP_API_VERSION" if os.environ.get("SCP_API_VERSION") else "the configuration"
        _api_version(report, check.api_version, source)
    _server(report)
    _oauth(report)
    print("All good." if report.problems == 0 else f"{plural(report.problems, 'problem')} found.", file=out)
    return 0 if report.problems == 0 else 1

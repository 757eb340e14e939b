"""The server's own settings (the SCP client's live in `scp`): from the environment and the command line."""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import platformdirs

from .logs import START_LOGGER
from .oauth import AUDIENCE_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV, INTROSPECTION_ENV, ISSUER_ENV
from .policy import PolicyError, load_policy, unenforceable
from .scp import CURRENT_API_VERSION, ScpConfig, ScpConfigError, check_api_version, load_config
from .scp._config import parse_timeout
from .team.database import is_database_url, mask_url

if TYPE_CHECKING:
    from .policy import Policy

ConfirmationPolicy = Literal["auto", "human", "flag"]
CONFIRMATION_POLICIES: tuple[ConfirmationPolicy, ...] = ("auto", "human", "flag")
SnapshotPolicy = Literal["optional", "required", "off"]
SNAPSHOT_POLICIES: tuple[SnapshotPolicy, ...] = ("optional", "required", "off")
DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_SHUTDOWN_GRACE_S = 20.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        """One concrete fix, for `doctor`'s "fix:" line."""


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(
        f"{name} must be 1/true/yes/on or 0/false/no/off, not {env[name]!r}", fix=f"set {name} to 1 or 0, or unset it"
    )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    fix = f"set {name} to a number of seconds such as {default:g}, or unset it"
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}", fix=fix) from None
    if not (math.isfinite(value) and value > 0):
        raise SettingsError(f"{name} must be a positive, finite number of seconds, not {raw!r}", fix=fix)
    return value


@dataclass(frozen=True)
class ServerSettings:
    read_only: bool = False
    """SCP_READ_ONLY: extend_volume is not offered at all."""
    confirmation: ConfirmationPolicy = "auto"
    """SCP_CONFIRMATION: auto (ask a human when the client can), human (always), flag (never ask)."""
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    """SCP_POLL_INTERVAL: the longest pause between two reads while waiting for an extension."""
    audit_log: Path | None = None
    """SCP_AUDIT_LOG: the JSON-lines audit trail, which also holds the resizes that may still be under way.
    From the environment: unset means `default_audit_log()` (the user's state folder); `off` means None."""
    audit_log_default: bool = False
    """True when `audit_log` is the default place (its folder is made at start)."""
    snapshot_policy: SnapshotPolicy = "optional"
    """SCP_SNAPSHOT_POLICY: optional (the caller's snapshot_first decides), required (every extension
    snapshots first) or off (snapshot_first is not offered)."""
    database_url: str | None = field(default=None, repr=False)
    """SCP_DATABASE_URL: team mode; PostgreSQL holds the per-volume locks and the audit trail (never shown
    with its password: see `database.mask_url`)."""
    lock_timeout_s: float = 30.0
    """SCP_LOCK_TIMEOUT: how long an extension waits for its volume's database lock before it is refused."""
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    """SCP_SHUTDOWN_GRACE: on SIGTERM, how long tool calls in flight may take to finish before they are
    cancelled (an extension cancelled then records `interrupted`, with what a read back shows)."""
    policy: Policy | None = None
    """SCP_POLICY_FILE: the team's limits and approval rules (`policy`), read once at start; None: no file."""
    allowed_origins: tuple[str, ...] = ()
    """SCP_MCP_ALLOWED_ORIGINS: the web origins whose pages may call the HTTP server from a browser (CORS):
    `allowed_origins`."""

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        read_only: bool | None = None,
        confirmation: str | None = None,
    ) -> ServerSettings:
        env = os.environ if env is None else env
        raw_policy = (confirmation or env.get("SCP_CONFIRMATION") or "auto").strip().lower()
        policy = next((p for p in CONFIRMATION_POLICIES if p == raw_policy), None)
        if policy is None:
            raise SettingsError(
                f"SCP_CONFIRMATION must be one of {', '.join(CONFIRMATION_POLICIES)}, not {raw_policy!r}",
                fix=f"set SCP_CONFIRMATION to {' or '.join(CONFIRMATION_POLICIES)}",
            )
        try:
            parse_timeout(env)  # read by the SCP client on first use; refused here, at start
        except ScpConfigError as exc:
            raise SettingsError(exc.message, fix=exc.fix) from None
        audit = (env.get("SCP_AUDIT_LOG") or "").strip()
        raw_snapshot = (env.get("SCP_SNAPSHOT_POLICY") or "optional").strip().lower()
        snapshot_policy = next((p for p in SNAPSHOT_POLICIES if p == raw_snapshot), None)
        if snapshot_policy is None:
            raise SettingsError(
                f"SCP_SNAPSHOT_POLICY must be one of {', '.join(SNAPSHOT_POLICIES)}, not {raw_snapshot!r}",
                fix=f"set SCP_SNAPSHOT_POLICY to {' or '.join(SNAPSHOT_POLICIES)}",
            )
        database_url = env.get("SCP_DATABASE_URL", "").strip() or None
        if database_url is not None:
            if not is_database_url(database_url):
                raise SettingsError(f"SCP_DATABASE_URL must be a postgresql:// URL, not {mask_url(database_url)!r}")
            if audit:
                raise SettingsError(
                    "SCP_AUDIT_LOG and SCP_DATABASE_URL are both set: with a database the audit trail is its "
                    "table scp_volume_audit; unset SCP_AUDIT_LOG"
                )
        return cls(
            read_only=_flag(env, "SCP_READ_ONLY") if read_only is None else read_only,
            confirmation=policy,
            poll_interval_s=_seconds(env, "SCP_POLL_INTERVAL", DEFAULT_POLL_INTERVAL_S),
            audit_log=_audit_log(audit),
            audit_log_default=not audit,
            snapshot_policy=snapshot_policy,
            database_url=database_url,
            lock_timeout_s=_seconds(env, "SCP_LOCK_TIMEOUT", 30.0),
            shutdown_grace_s=_seconds(env, "SCP_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE_S),
            policy=_policy(
                env, audit_trail=bool(database_url) or _audit_log(audit) is not None, team=database_url is not None
            ),
            allowed_origins=allowed_origins(env),
        )


ALLOWED_ORIGINS_ENV = "SCP_MCP_ALLOWED_ORIGINS"
_ORIGIN = re.compile(r"https?://(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::[0-9]{1,5})?")


def allowed_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """SCP_MCP_ALLOWED_ORIGINS: comma-separated origins (scheme://host[:port], as a browser sends `Origin`) whose
    pages may call the HTTP server: CORS for them, and the DNS-rebinding check admits them. Exact origins only:
    `*` (or `null`, a sandboxed page's) would let any page use the token of whoever opened it."""
    origins: list[str] = []
    for raw in env.get(ALLOWED_ORIGINS_ENV, "").split(","):
        origin = raw.strip().lower().removesuffix("/")
        if origin and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                f"{ALLOWED_ORIGINS_ENV} takes exact origins such as https://chat.example.com, not {raw.strip()!r}"
                + (": a wildcard would let pages nobody listed call this server" if "*" in origin else ""),
                fix=f"list each origin as scheme://host[:port], comma-separated, in {ALLOWED_ORIGINS_ENV}",
            )
        if origin and origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _policy(env: Mapping[str, str], *, audit_trail: bool, team: bool) -> Policy | None:
    """The policy file named by SCP_POLICY_FILE, read and validated now (imported only when one is set); a
    policy this server cannot enforce stops it here (one served over stdio, with no OAuth identities, is
    stopped by `server.build_server`)."""
    raw = (env.get("SCP_POLICY_FILE") or "").strip()
    if not raw:
        return None

    try:
        policy = load_policy(Path(raw).expanduser())
    except PolicyError as exc:
        raise SettingsError(str(exc), fix=exc.fix) from None
    oauth = bool(env.get(ISSUER_ENV, "").strip())
    if problem := unenforceable(policy, audit_trail=audit_trail, team=team, oauth=oauth):
        raise SettingsError(problem[0], fix=problem[1])
    return policy


AUDIT_OFF = "off"


def default_audit_log() -> Path:
    """The audit trail when SCP_AUDIT_LOG is not set: the user's state folder (platformdirs), e.g.
    ~/.local/state/scp-volume-mcp/audit.jsonl on Linux."""

    return platformdirs.user_state_path("scp-volume-mcp", appauthor=False) / "audit.jsonl"


def _audit_log(value: str) -> Path | None:
    if value.lower() == AUDIT_OFF:
        return None
    return Path(value).expanduser() if value else default_audit_log()


REHEARSAL_AUDIT_LOG_NAME = "rehearsal-audit.jsonl"


def rehearsal_audit_log() -> Path:
    """The audit trail suggested for rehearsals against the emulator (`SCP_AUDIT_LOG`): beside the default trail,
    in a file of its own, so that rehearsed resizes (and the attempts an emulator reset leaves open) never mix
    with real ones. Its folder, private to the user, is made here: a server refuses a trail whose folder is
    missing."""
    path = default_audit_log().with_name(REHEARSAL_AUDIT_LOG_NAME)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


# --- what `serve` can already see at start; `doctor` reports the same problems in the same words ---------------

DOCTOR_NOTE = "Starting anyway; `scp-volume-mcp doctor` checks every setting and says the fix."
"""What each start-up problem line ends with."""


@dataclass(frozen=True)
class ScpSettingsCheck:
    """The SCP client's settings as `load_config` judges them (the one place that decides them), with every
    problem it finds, not only the first."""

    config: ScpConfig | None
    """The configuration; None when it does not load."""
    problems: tuple[ScpConfigError, ...]
    """Each problem once, in the order found."""
    api_version: str
    """The configured API version, read even when the keys are missing."""


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A logger silenced for a moment: the checks report what it would log (a skipped file) themselves."""
    logger = logging.getLogger(name)
    was, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was


def check_scp_settings(env: Mapping[str, str] | None = None) -> ScpSettingsCheck:
    """Load the SCP client's settings as a call would. `load_config` stops at the first problem and checks the
    keys first, so when it fails the rest is loaded again with stand-ins for the keys: an endpoint ending in
    /v1 is found beside missing keys. Nothing here holds or shows a secret."""
    env = os.environ if env is None else env
    with _quiet("scp_volume_mcp.scp"):
        try:
            config = load_config(env=env)
        except ScpConfigError as first:
            problems = [first]
        else:
            return ScpSettingsCheck(config, (), config.api_version)
        version = (env.get("SCP_API_VERSION") or "").strip() or CURRENT_API_VERSION
        try:
            stand_in = load_config(access_key="stand-in", secret_key="stand-in", env=env)  # noqa: S106 - no secret
        except ScpConfigError as second:
            if str(second) != str(problems[0]):
                problems.append(second)
        else:
            version = stand_in.api_version
    return ScpSettingsCheck(None, tuple(problems), version)


def api_version_problem(version: str) -> ScpConfigError | None:
    """Why the API version cannot be used (unknown, or retired on its not-before date); None when it can."""
    try:
        check_api_version(version)
    except ScpConfigError as exc:
        return exc
    return None


def oauth_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """The OAuth variables that are set (names only: one of them holds a client secret)."""

    env = os.environ if env is None else env
    names = (ISSUER_ENV, AUDIENCE_ENV, INTROSPECTION_ENV, CLIENT_ID_ENV, CLIENT_SECRET_ENV)
    return [name for name in names if env.get(name, "").strip()]


def oauth_on_stdio(names: list[str]) -> str:
    """What OAuth variables do on stdio: nothing."""
    one = len(names) == 1
    said = names[0] if one else f"{', '.join(names[:-1])} and {names[-1]}"
    return (
        f"{said} {'is' if one else 'are'} set, but OAuth applies to `serve --transport http` only: over stdio the "
        f"client that starts the server is its only caller, and {'it does' if one else 'they do'} nothing"
    )


def start_problems(env: Mapping[str, str] | None = None, *, transport: str = "stdio") -> list[str]:
    """What is already wrong before the first call, one line each: the SCP settings (`check_scp_settings`: no
    keys, an endpoint ending in /v1, plain http off loopback, a broken file, ...), an API version that is
    unknown or retired, and OAuth variables on stdio. Each is what `doctor` reports too."""
    env = os.environ if env is None else env
    check = check_scp_settings(env)
    found = [str(problem) for problem in check.problems]
    if check.config is not None:
        found += check.config.warnings
    if (version := api_version_problem(check.api_version)) is not None:
        found.append(str(version))
    if transport == "stdio" and (names := oauth_variables(env)):
        found.append(oauth_on_stdio(names))
    return [" ".join(text.split()) for text in found]


def say_start_problems(transport: str, env: Mapping[str, str] | None = None) -> int:
    """`serve`: one line on stderr (through logging, so `--log-format json` stays JSON; never stdout, the stdio
    protocol's) for each problem `start_problems` sees. The server starts anyway: every call that needs SCP
    says the same until it is fixed, and new keys in ~/.scpconf are read at the next call. The number said."""
    problems = start_problems(env, transport=transport)
    logger = logging.getLogger(START_LOGGER)
    for problem in problems:
        logger.warning("%s. %s", problem.rstrip("."), DOCTOR_NOTE)
    return len(problems)

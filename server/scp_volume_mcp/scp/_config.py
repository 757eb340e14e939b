"""Where the SCP client's settings come from.

Highest first: explicit arguments; environment variables; `~/.scpconf/config.json` and
`~/.scpconf/credentials.json` as Samsung's own tools read them (the folder can be moved with
`SCP_CONFIG_DIR`). Every setting remembers its source, so `doctor` can say where it came from.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from ._errors import ScpConfigError
from ._net import is_loopback_host
from ._platform import CONFIG_DIR_NAME, CURRENT_API_VERSION, ENVIRONMENTS, SERVICE_URL_TEMPLATE

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ScpConfig:
    """A complete, validated client configuration. The secret key is a `SecretStr`: never in a repr."""

    access_key: str
    secret_key: SecretStr = field(repr=False)
    endpoint: str | None
    """The Virtual Server base URL, without a trailing slash; None when it is to be discovered from
    `{auth_url}/endpoints` on first use (see `sources["endpoint"]`)."""
    api_version: str = CURRENT_API_VERSION
    region: str | None = None
    environment: str | None = None
    auth_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Setting name -> where its value came from ("argument", "environment SCP_REGION", a file path)."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """What was skipped on the way (a broken file whose values the environment gave anyway)."""


def config_dir(env: Mapping[str, str]) -> Path:
    explicit = env.get("SCP_CONFIG_DIR")
    return Path(explicit).expanduser() if explicit else Path.home() / CONFIG_DIR_NAME


def _read_json(path: Path) -> dict[str, Any]:
    """A settings file as a dict; absent means empty. Unreadable or malformed is an error naming the file
    (and the line and column), never quoting it: credentials.json holds the secret key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ScpConfigError(
            f"Cannot read {path}: {why}.", fix=f"make {path} a readable UTF-8 file, or remove it"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's own words ("Expecting ',' delimiter"), never the file's content.
        raise ScpConfigError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            fix=f"correct line {exc.lineno} of {path} (it must be one JSON object), or remove the file",
        ) from None
    if not isinstance(data, dict):
        raise ScpConfigError(
            f"{path} must hold a JSON object.", fix=f'make {path} one JSON object, such as {{"key": "value"}}'
        )
    return data


def _read_both(paths: tuple[Path, Path], given: tuple[bool, bool]) -> tuple[list[dict[str, Any]], list[str]]:
    """config.json and credentials.json. A broken file is only an error when it could matter: when the arguments
    or the environment already give what it would (both keys; the endpoint), it is skipped with a warning.
    Both files broken: one error naming both."""
    data: list[dict[str, Any]] = []
    errors: list[ScpConfigError] = []
    warnings: list[str] = []
    for path, replaced in zip(paths, given, strict=True):
        try:
            data.append(_read_json(path))
        except ScpConfigError as exc:
            if not replaced:
                errors.append(exc)
            else:
                given_here = "SCP_ENDPOINT" if path == paths[0] else "SCP_ACCESS_KEY and SCP_SECRET_KEY"
                warnings.append(f"{exc} It was skipped: the arguments or the environment give {given_here}.")
            data.append({})
    if len(errors) == 2:
        raise ScpConfigError(f"{errors[0]} {errors[1]}", fix=f"{errors[0].fix}; and {errors[1].fix}")
    if errors:
        raise errors[0]
    return data, warnings


@dataclass
class _Lookup:
    """What one `load_config` call reads below its arguments (the environment, config.json and
    credentials.json), and where each setting it resolved came from."""

    env: Mapping[str, str] = field(repr=False)  # holds SCP_SECRET_KEY
    config_path: Path
    credentials_path: Path
    config_file: Mapping[str, Any]
    credentials_file: Mapping[str, Any] = field(repr=False)  # holds the secret key
    sources: dict[str, str] = field(default_factory=dict)

    def pick(self, name: str, explicit: str | None, env_name: str, *file_keys: str) -> str | None:
        """The first value given: the argument, the environment variable, then the file's keys in order.
        The keys come from credentials.json, everything else from config.json."""
        if explicit:
            self.sources[name] = "argument"
            return explicit
        if self.env.get(env_name):
            self.sources[name] = f"environment {env_name}"
            return self.env[env_name]
        is_secret = name in ("access_key", "secret_key")
        data, path = (
            (self.credentials_file, self.credentials_path) if is_secret else (self.config_file, self.config_path)
        )
        for key in file_keys:
            value = data.get(key)
            if isinstance(value, str) and value:
                self.sources[name] = f"{path} ({key})"
                return value
        return None


def _environment_from_auth_url(auth_url: str) -> str | None:
    """`https://iam.e.samsungsdscloud.com/v1` -> `e`."""
    labels = (urlsplit(auth_url).hostname or "").split(".")
    if len(labels) >= 2 and labels[0] == "iam" and labels[1] in ENVIRONMENTS:
        return labels[1]
    return None


def check_endpoint(endpoint: str, what: str = "SCP endpoint") -> str:
    """Normalize the endpoint and refuse what would be unsafe: plain http is for loopback only."""
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        example = (
            "https://iam.e.samsungsdscloud.com/v1"
            if "auth" in what
            else ("https://virtualserver.kr-west1.e.samsungsdscloud.com")
        )
        shown = endpoint if len(endpoint) <= 120 else endpoint[:119] + "…"
        raise ScpConfigError(f"{what} {shown!r} is not an http(s) URL; expected for example {example}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ScpConfigError(f"{what} must be a plain base URL, without credentials, query or fragment.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ScpConfigError(
            f"{what} {parts.scheme}://{parts.netloc} uses plain http on a non-loopback address; "
            "requests would travel unencrypted. Use https (plain http is accepted only for 127.0.0.1, ::1 "
            "or localhost, such as the embedded emulator)."
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


_TIMEOUT_FIX = f"set SCP_TIMEOUT to a number of seconds such as {DEFAULT_TIMEOUT_S:g}, or unset it"
_ENDPOINT_EXAMPLE = "https://virtualserver.kr-west1.e.samsungsdscloud.com"


def _check_base(endpoint: str, source: str) -> str:
    """The Virtual Server base URL: `check_endpoint`, and refused when it ends in `/v1`. The paths this client
    sends start with `/v1/` themselves, so `.../v1` would ask for `/v1/v1/volumes` and every volume would be
    "not found". Refused rather than stripped: the URL is the user's, and a changed URL is a surprise."""
    try:
        base = check_endpoint(endpoint)
    except ScpConfigError as exc:
        raise ScpConfigError(
            exc.message, fix=f"set the endpoint ({source}) to a base URL such as {_ENDPOINT_EXAMPLE}"
        ) from None
    if base.lower().endswith("/v1"):
        raise ScpConfigError(
            f"The SCP endpoint {base} ends in /v1; the base URL goes without /v1 (this server adds /v1/volumes "
            'itself, so every volume would be "not found").',
            fix=f"set the endpoint ({source}) to {base[:-3]}",
        )
    return base


def credentials_exposure(env: Mapping[str, str] | None = None) -> str | None:
    """A warning when credentials.json can be read by the file's group or by others, with the fix (as ssh
    does for keys); None when it is private or absent."""
    env = os.environ if env is None else env
    path = config_dir(env) / "credentials.json"
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name != "posix" or not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (
        f"{path} holds the SCP secret key and is readable by others (mode {stat.S_IMODE(mode):o}); "
        f"run: chmod 600 {path}"
    )


def parse_timeout(env: Mapping[str, str], explicit: float | None = None) -> float | None:
    """The SCP client's timeout in seconds: `explicit` when given, else SCP_TIMEOUT, else None (meaning
    `DEFAULT_TIMEOUT_S`). The one reader of SCP_TIMEOUT: the server refuses a bad value at start in these
    words. Raises `ScpConfigError` for anything but a positive, finite number."""
    timeout = explicit
    raw = env.get("SCP_TIMEOUT")
    if timeout is None and raw:
        try:
            timeout = float(raw)
        except ValueError:
            raise ScpConfigError(
                f"SCP_TIMEOUT must be a number of seconds, not {raw[:40]!r}.", fix=_TIMEOUT_FIX
            ) from None
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ScpConfigError(
            f"SCP_TIMEOUT must be a positive, finite number of seconds, not {timeout!r}.", fix=_TIMEOUT_FIX
        )
    return timeout


def _open_files(env: Mapping[str, str], *, have_endpoint: bool, have_keys: bool) -> tuple[_Lookup, list[str]]:
    """Read config.json and credentials.json (see `_read_both`), logging what was skipped and a credentials
    file others can read."""
    folder = config_dir(env)
    config_path, credentials_path = folder / "config.json", folder / "credentials.json"
    (config_file, credentials_file), warnings = _read_both((config_path, credentials_path), (have_endpoint, have_keys))
    for warning in warnings:
        logging.getLogger("scp_volume_mcp.scp").warning(warning)
    if credentials_file and (exposure := credentials_exposure(env)):
        logging.getLogger("scp_volume_mcp.scp").warning(exposure)
    return _Lookup(env, config_path, credentials_path, config_file, credentials_file), warnings


def _keys(lookup: _Lookup, access_key: str | None, secret_key: str | None) -> tuple[str, str]:
    """The access key and the secret key, or an error saying where they were looked for."""
    ak = lookup.pick("access_key", access_key, "SCP_ACCESS_KEY", "access-key", "access_key")
    sk = lookup.pick("secret_key", secret_key, "SCP_SECRET_KEY", "secret-key", "secret_key")
    if not ak or not sk:
        missing = " and ".join(n for n, v in (("access key", ak), ("secret key", sk)) if not v)
        credentials_path = lookup.credentials_path
        state = "found" if credentials_path.exists() else "not found"
        raise ScpConfigError(
            f"No SCP {missing} found. Looked in: arguments; environment SCP_ACCESS_KEY / SCP_SECRET_KEY; "
            f"{credentials_path} ({state}; keys access-key / secret-key). "
            "Set SCP_ACCESS_KEY and SCP_SECRET_KEY, or write them to that file "
            "(or run `scp-volume-mcp demo` to try the embedded emulator without an account).",
            fix=f'set SCP_ACCESS_KEY and SCP_SECRET_KEY, or write {{"access-key": ..., "secret-key": ...}} to '
            f"{credentials_path}",
        )
    return ak, sk


def _environment(lookup: _Lookup, environment: str | None, auth_url: str | None) -> str | None:
    """The environment as given, else the one the auth URL names."""
    envir = lookup.pick("environment", environment, "SCP_ENVIRONMENT", "environment")
    if envir is None and auth_url and (derived := _environment_from_auth_url(auth_url)):
        envir, lookup.sources["environment"] = derived, f"derived from the auth URL {auth_url}"
    return envir


def _templated_endpoint(lookup: _Lookup, region: str | None, environment: str | None) -> str:
    """The Virtual Server URL built from region and environment, or why it cannot be."""
    if not region or not environment:
        lacking = " and ".join(n for n, v in (("region", region), ("environment", environment)) if not v)
        raise ScpConfigError(
            f"No SCP endpoint: the {lacking} {'are' if not region and not environment else 'is'} not set. "
            "Set SCP_REGION (e.g. kr-west1) and "
            "SCP_ENVIRONMENT (s, g or e), or SCP_ENDPOINT to the Virtual Server base URL; "
            f"{lookup.config_path} may also give default-region and auth-url.",
            fix="set SCP_REGION (e.g. kr-west1) and SCP_ENVIRONMENT (s, g or e), or SCP_ENDPOINT",
        )
    if environment not in ENVIRONMENTS:
        raise ScpConfigError(
            f"SCP environment {environment!r} is unknown; use one of: {', '.join(ENVIRONMENTS)}.",
            fix=f"set SCP_ENVIRONMENT to one of {', '.join(ENVIRONMENTS)} ({lookup.sources.get('environment')})",
        )
    lookup.sources["endpoint"] = "built from region and environment"
    return SERVICE_URL_TEMPLATE.format(region=region, environment=environment)


def _endpoint(
    lookup: _Lookup, endpoint: str | None, auth_url: str | None, region: str | None, environment: str | None
) -> tuple[str | None, str | None]:
    """(endpoint, auth URL) in Samsung's order: the explicit URL; the Terraform provider's `endpoint-override`;
    discovery from the auth URL (`GET {auth-url}/endpoints`, on first use: no endpoint yet, the auth URL
    checked); the URL template from region and environment."""
    base = lookup.pick("endpoint", endpoint, "SCP_ENDPOINT", "endpoint-override", "endpoint")
    if base is None and auth_url:
        auth_url = check_endpoint(auth_url, "SCP auth URL")
        lookup.sources["endpoint"] = f"discovered from {auth_url}/endpoints"
    elif base is None:
        base = _templated_endpoint(lookup, region, environment)
    return base, auth_url


def load_config(
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    environment: str | None = None,
    endpoint: str | None = None,
    auth_url: str | None = None,
    api_version: str | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ScpConfig:
    """Resolve every setting, highest source first, and validate the result."""
    env = os.environ if env is None else env
    have_endpoint = bool(endpoint or env.get("SCP_ENDPOINT"))
    have_keys = bool(access_key or env.get("SCP_ACCESS_KEY")) and bool(secret_key or env.get("SCP_SECRET_KEY"))
    lookup, warnings = _open_files(env, have_endpoint=have_endpoint, have_keys=have_keys)
    ak, sk = _keys(lookup, access_key, secret_key)
    url = lookup.pick("auth_url", auth_url, "SCP_AUTH_URL", "auth-url", "auth_url")
    reg = lookup.pick("region", region, "SCP_REGION", "default-region", "region")
    envir = _environment(lookup, environment, url)
    version = lookup.pick("api_version", api_version, "SCP_API_VERSION", "api-version") or CURRENT_API_VERSION
    lookup.sources.setdefault("api_version", "default")
    base, url = _endpoint(lookup, endpoint, url, reg, envir)
    timeout = parse_timeout(env, timeout_s)
    if timeout_s is None and timeout is not None:
        lookup.sources["timeout_s"] = "environment SCP_TIMEOUT"
    return ScpConfig(
        access_key=ak,
        secret_key=SecretStr(sk),
        endpoint=_check_base(base, lookup.sources["endpoint"]) if base is not None else None,
        api_version=version,
        region=reg,
        environment=envir,
        auth_url=url,
        timeout_s=timeout or DEFAULT_TIMEOUT_S,
        sources=lookup.sources,
        warnings=tuple(warnings),
    )

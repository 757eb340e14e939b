"""A team's rules for extensions, from `SCP_POLICY_FILE` (TOML, read once at start):

```toml
[limits]
max_size_gb = 4096         # no volume grows beyond this
max_growth_gb = 1024       # one extension adds at most this
daily_growth_gb = 2048     # one volume grows at most this in 24 hours (counted from the audit trail)

[approval]
second_person_over_gb = 256    # growth above this in 24 hours (this step included) needs a second person
protected = ["prod-*"]         # volumes whose names match always need a second person
request_ttl_hours = 24         # an approval request not decided by then expires
```

Every key is optional. The file is validated strictly: an unknown key, or a value of the wrong type, is a
`PolicyError` naming the file, the key and the value expected. This module only reads and judges; the
refusals, the plan and the approvals call it. No I/O beyond reading the file, no MCP.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .untrusted_text import clean

POLICY_FILE_ENV = "SCP_POLICY_FILE"
DAY_S = 24 * 3600
DEFAULT_REQUEST_TTL_HOURS = 24.0

Gb = Annotated[int, Field(gt=0, description="a positive whole number of GB")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Limits(_Section):
    """`[limits]`: what no extension may do, whoever approves it."""

    max_size_gb: Gb | None = None
    """No volume grows beyond this total size."""
    max_growth_gb: Gb | None = None
    """One extension adds at most this."""
    daily_growth_gb: Gb | None = None
    """One volume grows at most this in 24 hours, counted from the audit trail."""


class ApprovalRules(_Section):
    """`[approval]`: what needs a second person (team mode with OAuth only)."""

    second_person_over_gb: Annotated[int, Field(ge=0)] | None = None
    """A volume's growth above this within 24 hours, this step included, needs a second person (counted as
    `daily_growth_gb` counts it: steps cannot walk around it)."""
    protected: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default_factory=list)
    """Volume-name patterns (shell-style, case-sensitive: `prod-*`); a matching volume always needs a second
    person."""
    request_ttl_hours: Annotated[float, Field(gt=0, le=24 * 30)] = DEFAULT_REQUEST_TTL_HOURS
    """An approval request not decided within this many hours expires."""

    @property
    def enabled(self) -> bool:
        """Whether any rule sends an extension to a second person."""
        return self.second_person_over_gb is not None or bool(self.protected)


class PolicyDocument(_Section):
    limits: Limits = Field(default_factory=Limits)
    approval: ApprovalRules = Field(default_factory=ApprovalRules)


RuleName = Literal["max_size_gb", "max_growth_gb", "daily_growth_gb", "second_person_over_gb", "protected"]


@dataclass(frozen=True)
class Rule:
    """One rule of the policy that applies to an extension."""

    name: RuleName
    value: int | str
    """The rule's value: GB for the limits and `second_person_over_gb`, the matching pattern for `protected`."""

    @property
    def kind(self) -> Literal["limit", "approval"]:
        return "approval" if self.name in ("second_person_over_gb", "protected") else "limit"

    @property
    def label(self) -> str:
        """As the plan and the refusals name it: `limit: max_growth_gb 1024 (policy file)`."""
        shown = f'"{self.value}"' if isinstance(self.value, str) else str(self.value)
        window = " (growth in the last 24 hours, this step included)" if self.name == "second_person_over_gb" else ""
        return f"{self.kind}: {self.name} {shown}{window} (policy file)"


@dataclass(frozen=True)
class Policy:
    """The rules in force, and the file they came from (None: no policy file, no rules)."""

    limits: Limits
    approval: ApprovalRules
    source: Path | None = None

    @classmethod
    def none(cls) -> Policy:
        return cls(Limits(), ApprovalRules())

    @property
    def active(self) -> bool:
        limits = self.limits
        return self.approval.enabled or any(
            v is not None for v in (limits.max_size_gb, limits.max_growth_gb, limits.daily_growth_gb)
        )

    def broken_limits(self, current_gb: int, target_gb: int, grown_last_day_gb: int = 0) -> list[Rule]:
        """The limits that growing a volume from `current_gb` to `target_gb` would break. `grown_last_day_gb`:
        how much the volume grew in the last 24 hours (extensions the audit trail records as completed or
        accepted, or whose outcome is unknown)."""
        limits, growth = self.limits, target_gb - current_gb
        broken: list[Rule] = []
        if growth <= 0:
            return broken
        if limits.max_size_gb is not None and target_gb > limits.max_size_gb:
            broken.append(Rule("max_size_gb", limits.max_size_gb))
        if limits.max_growth_gb is not None and growth > limits.max_growth_gb:
            broken.append(Rule("max_growth_gb", limits.max_growth_gb))
        if limits.daily_growth_gb is not None and grown_last_day_gb + growth > limits.daily_growth_gb:
            broken.append(Rule("daily_growth_gb", limits.daily_growth_gb))
        return broken

    def approval_rule(
        self, volume_name: str | None, current_gb: int, target_gb: int, grown_last_day_gb: int = 0
    ) -> Rule | None:
        """The rule that sends this extension to a second person, or None. A protected name wins (it names the
        pattern); a volume without a name matches no pattern. A name matches as the platform spells it or as
        people read it (invisible characters removed): `\u200bprod-db` is shown as, and protected as, `prod-db`.
        `second_person_over_gb` counts the volume's growth in the last 24 hours with this step's."""
        rules = self.approval
        if volume_name:
            names = {volume_name, clean(volume_name).text}
            for pattern in rules.protected:
                if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                    return Rule("protected", pattern)
        over = rules.second_person_over_gb
        if over is not None and target_gb - current_gb + grown_last_day_gb > over:
            return Rule("second_person_over_gb", over)
        return None

    @property
    def counts_growth(self) -> bool:
        """Whether judging an extension needs the volume's growth in the last 24 hours (from the trail)."""
        return self.limits.daily_growth_gb is not None or self.approval.second_person_over_gb is not None

    def describe(self) -> list[str]:
        """One line per rule in force, for `doctor` and the README (no rule: an empty list)."""
        lines = [Rule(name, value).label for name, value in _limits(self.limits)]
        if self.approval.second_person_over_gb is not None:
            lines.append(Rule("second_person_over_gb", self.approval.second_person_over_gb).label)
        lines += [Rule("protected", pattern).label for pattern in self.approval.protected]
        if self.approval.enabled:
            lines.append(f"approval requests expire after {self.approval.request_ttl_hours:g} h")
        return lines


def _limits(limits: Limits) -> list[tuple[RuleName, int]]:
    named: list[tuple[RuleName, int | None]] = [
        ("max_size_gb", limits.max_size_gb),
        ("max_growth_gb", limits.max_growth_gb),
        ("daily_growth_gb", limits.daily_growth_gb),
    ]
    return [(name, value) for name, value in named if value is not None]


def unenforceable(policy: Policy, *, audit_trail: bool, team: bool, oauth: bool) -> tuple[str, str] | None:
    """Why this server cannot run with `policy`, and the fix; None when it can. A limit that cannot be counted,
    or a rule that cannot be enforced, stops the server at start rather than being ignored. `team`: the team
    database is set (SCP_DATABASE_URL); `oauth`: callers are known by OAuth identities."""
    where = f"{POLICY_FILE_ENV} ({policy.source})"
    if policy.approval.enabled and not (team and oauth):
        return approval_unenforceable(policy), APPROVAL_FIX
    if policy.limits.daily_growth_gb is not None and not audit_trail:
        return (
            f"{where} sets daily_growth_gb, which is counted from the audit trail, and the trail is off "
            "(SCP_AUDIT_LOG=off)",
            "unset SCP_AUDIT_LOG (or point it at a file), or remove daily_growth_gb",
        )
    return None


APPROVAL_FIX = (
    "serve over HTTP in team mode with OAuth (SCP_DATABASE_URL, SCP_MCP_OAUTH_ISSUER and SCP_MCP_OAUTH_AUDIENCE), "
    "or remove the [approval] table from the policy file (the [limits] work without it)"
)


def approval_unenforceable(policy: Policy) -> str:
    """Why [approval] rules cannot be enforced by a server without the team database and OAuth identities."""
    rules = [line for line in policy.describe() if line.startswith("approval:")]
    return (
        f"{POLICY_FILE_ENV} ({policy.source}) has [approval] rules ({'; '.join(rules)}), which need a second "
        "person: a caller other than the requester, known by their OAuth identity, with the requests kept in the "
        "team database. This server has no such callers or database, so it cannot enforce them and does not start"
    )


class PolicyError(ValueError):
    """The policy file cannot be read, or holds a key or value the server does not take (`settings` turns it
    into a `SettingsError`, which stops the server at start and shows in `doctor`)."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file. Raises `PolicyError` naming the file, each bad key and the value
    expected."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{POLICY_FILE_ENV}: cannot read {path}: {exc.strerror or exc}",
                          fix=f"point {POLICY_FILE_ENV} at a readable TOML file, or unset it") from None  # fmt: skip
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{POLICY_FILE_ENV}: {path} is not valid TOML: {exc}",
                          fix="fix the file's syntax (https://toml.io)") from None  # fmt: skip
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise PolicyError(f"{POLICY_FILE_ENV}: {path}: {problems}",
                          fix="correct or remove those keys (every key is optional)") from None  # fmt: skip
    return Policy(document.limits, document.approval, path)


_EXPECTED = {
    "max_size_gb": "a positive whole number of GB",
    "max_growth_gb": "a positive whole number of GB",
    "daily_growth_gb": "a positive whole number of GB",
    "second_person_over_gb": "a whole number of GB, 0 or more",
    "protected": 'a list of volume-name patterns such as ["prod-*"]',
    "request_ttl_hours": "a number of hours above 0, at most 720",
    "limits": "a table [limits]",
    "approval": "a table [approval]",
}
_KNOWN = {
    (): ["limits", "approval"],
    ("limits",): list(Limits.model_fields),
    ("approval",): list(ApprovalRules.model_fields),
}


def _problem(error: object) -> str:
    assert isinstance(error, dict)
    loc = tuple(str(part) for part in error["loc"])
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        known = _KNOWN.get(loc[:-1], [])
        return f"unknown key {key!r} (known here: {', '.join(known) or 'none'})"
    expected = next((_EXPECTED[part] for part in reversed(loc) if part in _EXPECTED), "another value")
    return f"{key} = {_shown(error.get('input'))} is not valid: expected {expected}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

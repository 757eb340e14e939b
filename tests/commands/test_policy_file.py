"""The policy file (`SCP_POLICY_FILE`): strict reading, errors that name the file, the key and the value
expected, and the rules judged at, below and above their values."""

from __future__ import annotations

from pathlib import Path

import pytest

from scp_volume_mcp.policy import Policy, PolicyError, Rule, load_policy
from scp_volume_mcp.settings import ServerSettings, SettingsError

FULL = """
[limits]
max_size_gb = 4096
max_growth_gb = 1024
daily_growth_gb = 2048

[approval]
second_person_over_gb = 256
protected = ["prod-*"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_is_optional(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, ""))
    assert not policy.active
    assert policy.describe() == []
    assert policy.broken_limits(100, 16000) == []
    assert policy.approval_rule("prod-db", 100, 16000) is None


def test_the_full_example_reads_and_describes_itself(tmp_path: Path) -> None:
    path = _write(tmp_path, FULL)
    policy = load_policy(path)
    assert policy.source == path
    assert policy.active
    assert "limit: max_growth_gb 1024 (policy file)" in policy.describe()
    assert 'approval: protected "prod-*" (policy file)' in policy.describe()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[limits]\nmax_growth_gb = '1024'\n", "limits.max_growth_gb = '1024' is not valid: expected a positive whole"),
        ("[limits]\nmax_size_gb = 0\n", "limits.max_size_gb = 0 is not valid"),
        ("[limits]\nmax_size_gb = 1.5\n", "limits.max_size_gb = 1.5 is not valid"),
        ("[approval]\nsecond_person_over_gb = true\n", "approval.second_person_over_gb = True is not valid"),
        ("[approval]\nprotected = 'prod-*'\n", "approval.protected = 'prod-*' is not valid: expected a list"),
        ("[limits]\nmax_grwth_gb = 5\n", "unknown key 'limits.max_grwth_gb' (known here: max_size_gb,"),
        ("[limit]\nmax_size_gb = 5\n", "unknown key 'limit' (known here: limits, approval)"),
        ("[limits\n", "is not valid TOML"),
    ],
)
def test_a_bad_file_stops_the_server_naming_the_file_and_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        ServerSettings.from_env({"SCP_POLICY_FILE": str(path)})
    assert str(path) in str(raised.value)
    assert named in str(raised.value)
    assert raised.value.fix


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"cannot read .*absent\.toml"):
        load_policy(tmp_path / "absent.toml")


def test_no_file_means_no_policy() -> None:
    assert ServerSettings.from_env({}).policy is None


@pytest.mark.parametrize(
    ("current", "target", "grown", "broken"),
    [
        (3500, 4096, 0, []),  # max_size_gb: at
        (3500, 4088, 0, []),  # below
        (3500, 4104, 0, ["max_size_gb"]),  # above
        (1000, 2024, 0, []),  # max_growth_gb: at
        (1000, 2032, 0, ["max_growth_gb"]),  # above
        (100, 1100, 1048, []),  # daily_growth_gb: at (1048 + 1000 = 2048)
        (100, 1108, 1048, ["daily_growth_gb"]),  # above
        (100, 100, 5000, []),  # no growth breaks no limit
    ],
)
def test_limits_at_below_and_above(tmp_path: Path, current: int, target: int, grown: int, broken: list[str]) -> None:
    policy = load_policy(_write(tmp_path, FULL))
    assert [rule.name for rule in policy.broken_limits(current, target, grown)] == broken


def test_approval_rules(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, FULL))
    assert policy.approval_rule("dev-db", 100, 356) is None  # at 256
    assert policy.approval_rule("dev-db", 100, 364) == Rule("second_person_over_gb", 256)
    assert policy.approval_rule("prod-db", 100, 104) == Rule("protected", "prod-*")
    assert policy.approval_rule("Prod-db", 100, 104) is None  # patterns are case-sensitive
    assert policy.approval_rule(None, 100, 104) is None
    assert Policy.none().approval_rule("prod-db", 100, 16000) is None

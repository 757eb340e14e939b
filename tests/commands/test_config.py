from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from scp_volume_mcp.scp import ScpConfigError, load_config
from scp_volume_mcp.settings import ServerSettings, SettingsError


def _write(folder: Path, name: str, data: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))


@pytest.fixture
def scpconf(tmp_path: Path) -> Path:
    folder = tmp_path / ".scpconf"
    _write(
        folder,
        "config.json",
        {"auth-url": "https://iam.e.samsungsdscloud.com/v1", "default-region": "kr-west1"},
    )
    _write(folder, "credentials.json", {"access-key": "file-ak", "secret-key": "file-sk"})
    return folder


def test_files_alone_are_enough(scpconf: Path) -> None:
    config = load_config(env={"SCP_CONFIG_DIR": str(scpconf)})
    assert config.access_key == "file-ak"
    assert config.secret_key.get_secret_value() == "file-sk"
    assert config.region == "kr-west1"
    assert config.environment == "e"  # derived from the auth URL
    assert config.endpoint is None  # an auth URL is known: discovered on first use, as Samsung's SDK does
    assert config.sources["endpoint"] == "discovered from https://iam.e.samsungsdscloud.com/v1/endpoints"
    assert config.api_version == "1.3"
    assert config.sources["access_key"].endswith("credentials.json (access-key)")
    assert config.sources["environment"].startswith("derived from the auth URL")


def test_home_scpconf_is_the_default_folder(scpconf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(scpconf.parent))
    assert load_config(env={}).access_key == "file-ak"


def test_environment_beats_files_and_arguments_beat_environment(scpconf: Path) -> None:
    _write(scpconf, "config.json", {"default-region": "kr-west1"})  # no auth URL: the URL template applies
    env = {
        "SCP_CONFIG_DIR": str(scpconf),
        "SCP_ACCESS_KEY": "env-ak",
        "SCP_SECRET_KEY": "env-sk",
        "SCP_REGION": "kr-east1",
        "SCP_ENVIRONMENT": "s",
        "SCP_API_VERSION": "1.3",
    }
    config = load_config(env=env)
    assert (config.access_key, config.region, config.environment) == ("env-ak", "kr-east1", "s")
    assert config.endpoint == "https://virtualserver.kr-east1.s.samsungsdscloud.com"
    assert config.sources["region"] == "environment SCP_REGION"
    config = load_config(access_key="arg-ak", region="kr-south1", environment="g", env=env)
    assert (config.access_key, config.secret_key.get_secret_value()) == ("arg-ak", "env-sk")
    assert config.endpoint == "https://virtualserver.kr-south1.g.samsungsdscloud.com"
    assert config.sources["access_key"] == "argument"


def test_endpoint_overrides_region_and_environment(scpconf: Path) -> None:
    config = load_config(env={"SCP_CONFIG_DIR": str(scpconf), "SCP_ENDPOINT": "http://127.0.0.1:8765/"})
    assert config.endpoint == "http://127.0.0.1:8765"


def test_underscore_credential_keys_are_read(tmp_path: Path) -> None:
    _write(tmp_path, "credentials.json", {"access_key": "a", "secret_key": "b"})
    config = load_config(env={"SCP_CONFIG_DIR": str(tmp_path), "SCP_ENDPOINT": "https://example.test"})
    assert config.access_key == "a"


def test_missing_credentials_name_every_place_looked_at(tmp_path: Path) -> None:
    with pytest.raises(ScpConfigError) as info:
        load_config(env={"SCP_CONFIG_DIR": str(tmp_path)})
    message = str(info.value)
    assert "access key and secret key" in message
    assert "arguments" in message
    assert "SCP_ACCESS_KEY" in message
    assert "SCP_SECRET_KEY" in message
    assert str(tmp_path / "credentials.json") in message
    assert "not found" in message


def test_missing_secret_only(tmp_path: Path) -> None:
    with pytest.raises(ScpConfigError, match="No SCP secret key found"):
        load_config(env={"SCP_CONFIG_DIR": str(tmp_path), "SCP_ACCESS_KEY": "ak"})


def test_missing_region_is_explained(tmp_path: Path) -> None:
    env = {
        "SCP_CONFIG_DIR": str(tmp_path),
        "SCP_ACCESS_KEY": "ak",
        "SCP_SECRET_KEY": "sk",
        "SCP_ENVIRONMENT": "e",
    }
    with pytest.raises(ScpConfigError, match="region is not set"):
        load_config(env=env)


def test_secret_never_in_repr_or_errors(tmp_path: Path) -> None:
    secret = "Sup3r-S3cret-Value-42"
    config = load_config(access_key="ak", secret_key=secret, endpoint="https://example.test", env={})
    assert secret not in repr(config)
    assert secret not in str(config)
    (tmp_path / "credentials.json").write_text('{"secret-key": "' + secret + '", broken')
    with pytest.raises(ScpConfigError) as info:
        load_config(env={"SCP_CONFIG_DIR": str(tmp_path)})
    assert secret not in str(info.value)
    assert "not valid JSON" in str(info.value)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.5:8765",
        "http://virtualserver.kr-west1.e.samsungsdscloud.com",
        "ftp://127.0.0.1",
        "not a url",
    ],
)
def test_unsafe_or_invalid_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ScpConfigError):
        load_config(access_key="ak", secret_key="sk", endpoint=endpoint, env={})


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3", "https://x.test"])
def test_loopback_http_and_https_are_accepted(endpoint: str) -> None:
    assert load_config(access_key="ak", secret_key="sk", endpoint=endpoint, env={}).endpoint == endpoint


def test_bad_timeout_is_refused() -> None:
    env = {"SCP_TIMEOUT": "soon"}
    with pytest.raises(ScpConfigError, match="SCP_TIMEOUT"):
        load_config(access_key="ak", secret_key="sk", endpoint="https://x.test", env=env)


@pytest.mark.parametrize("value", ["soon", "-1", "0", "nan", "x" * 100])
def test_the_server_at_start_and_the_client_refuse_a_bad_timeout_in_the_same_words(value: str) -> None:
    env = {"SCP_TIMEOUT": value}
    with pytest.raises(ScpConfigError) as client:
        load_config(access_key="ak", secret_key="sk", endpoint="https://x.test", env=env)
    with pytest.raises(SettingsError) as server:
        ServerSettings.from_env(env)
    assert (str(server.value), server.value.fix) == (str(client.value), client.value.fix)


def test_an_explicit_timeout_wins_over_the_environment_and_is_checked_the_same_way() -> None:
    config = load_config(
        access_key="ak", secret_key="sk", endpoint="https://x.test", timeout_s=2.5, env={"SCP_TIMEOUT": "soon"}
    )
    assert config.timeout_s == 2.5
    assert "timeout_s" not in config.sources
    assert (
        load_config(access_key="ak", secret_key="sk", endpoint="https://x.test", env={"SCP_TIMEOUT": "7"}).sources[
            "timeout_s"
        ]
        == "environment SCP_TIMEOUT"
    )
    with pytest.raises(ScpConfigError, match="positive, finite"):
        load_config(access_key="ak", secret_key="sk", endpoint="https://x.test", timeout_s=0, env={})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3", "abc"])
def test_impossible_timeouts_are_refused_at_start(value: str) -> None:
    with pytest.raises(SettingsError, match="SCP_TIMEOUT"):
        ServerSettings.from_env({"SCP_TIMEOUT": value})
    with pytest.raises(SettingsError, match="SCP_POLL_INTERVAL"):
        ServerSettings.from_env({"SCP_POLL_INTERVAL": value})
    if value != "abc":
        assert not (math.isfinite(float(value)) and float(value) > 0)
    with pytest.raises(ScpConfigError, match="SCP_TIMEOUT"):
        load_config(access_key="a", secret_key="b", endpoint="http://127.0.0.1:1", env={"SCP_TIMEOUT": value})

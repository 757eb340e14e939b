from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from scp_volume_mcp.scp import ScpAuth, signature

VECTORS = [
    (
        "PUT",
        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/volumes/3f500f00-ed80-4566-a057-e31760226f9a/size",
        "1605290625682",
        "AK",
        "SK",
        "IhCUT14x097VpjKbgq27Zmhd34Kars7VN2T5I8U36Rk=",
    ),
    (
        "GET",
        "https://virtualserver.kr-west1.e.samsungsdscloud.com/v1/volumes/3f500f00-ed80-4566-a057-e31760226f9a",
        "1605290625682",
        "2sd2gg=2agbdSD26svcD",
        "s3cr3t-Key",
        "M0Tl2v9d+Lb9QlpMi03dd4losQWi5gjGzZE6N/4jabc=",
    ),
    (
        "GET",
        "http://127.0.0.1:8765/v1/volumes?limit=20&name=volume01",
        "1764230400000",
        "AK",
        "SK",
        "qZ4qlNYe8MgIFO1mvlsVMmYzJIQCwiqHFWepk9iMRzY=",
    ),
]


@pytest.mark.parametrize(("method", "url", "timestamp", "access_key", "secret_key", "expected"), VECTORS)
def test_reference_vectors(
    method: str, url: str, timestamp: str, access_key: str, secret_key: str, expected: str
) -> None:
    assert signature(method, url, timestamp, access_key, secret_key) == expected


def test_method_is_upper_cased() -> None:
    method, url, timestamp, access_key, secret_key, expected = VECTORS[0]
    assert signature(method.lower(), url, timestamp, access_key, secret_key) == expected


def _sign(auth: ScpAuth, request: httpx.Request) -> httpx.Request:
    flow = auth.auth_flow(request)
    return next(flow)


def test_auth_flow_sets_headers_and_signs_the_url_as_sent() -> None:
    auth = ScpAuth("AK", SecretStr("SK"), clock=lambda: 1764230400.0)
    request = httpx.Request("GET", "http://127.0.0.1:8765/v1/volumes", params={"limit": 20, "name": "volume01"})
    signed = _sign(auth, request)
    assert signed.headers["Scp-AccessKey"] == "AK"
    assert signed.headers["Scp-Timestamp"] == "1764230400000"
    assert signed.headers["Scp-ClientType"] == "Openapi"
    assert signed.headers["Accept-Language"] == "en-US"
    assert signed.headers["Scp-Signature"] == VECTORS[2][5]


def test_every_attempt_gets_a_fresh_timestamp() -> None:
    ticks = iter([1000.0, 1000.5])
    auth = ScpAuth("AK", SecretStr("SK"), clock=lambda: next(ticks))
    first = _sign(auth, httpx.Request("GET", "http://127.0.0.1/v1/volumes"))
    second = _sign(auth, httpx.Request("GET", "http://127.0.0.1/v1/volumes"))
    assert first.headers["Scp-Timestamp"] == "1000000"
    assert second.headers["Scp-Timestamp"] == "1000500"
    assert first.headers["Scp-Signature"] != second.headers["Scp-Signature"]


def test_repr_hides_the_secret() -> None:
    auth = ScpAuth("AK", SecretStr("very-secret-value"))
    assert "very-secret-value" not in repr(auth)

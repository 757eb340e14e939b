"""A signer written from scp-facts.md alone (stdlib only, none of the project's signing code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID


def _independent_request(url: str, *, tamper: bool = False) -> tuple[int, dict[str, Any]]:
    timestamp = str(round(time.time() * 1000))
    message = "GET" + url + timestamp + EMULATOR_ACCESS_KEY + "" + "Openapi"
    mac = hmac.new(EMULATOR_SECRET_KEY.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    sig = base64.b64encode(mac.digest()).decode()
    if tamper:  # change exactly one character
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    conn.request(
        "GET",
        parts.path + (f"?{parts.query}" if parts.query else ""),
        headers={
            "Scp-Accesskey": EMULATOR_ACCESS_KEY,
            "Scp-Signature": sig,
            "Scp-Timestamp": timestamp,
            "Scp-ClientType": "Openapi",
            "Accept-Language": "en-US",
            "Scp-Api-Version": "virtualserver 1.3",
        },
    )
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


def test_independent_signer_is_accepted_and_a_one_character_change_is_not(emulator: EmulatorServer) -> None:
    url = f"{emulator.url}/v1/volumes/{EXAMPLE_VOLUME_ID}"
    status, body = _independent_request(url)
    assert status == 200
    assert body["name"] == "volume01"
    status, body = _independent_request(url, tamper=True)
    assert status == 401
    assert body["errors"][0]["detail"] == "Signature does not match"


def test_independent_signer_with_a_query_string(emulator: EmulatorServer) -> None:
    status, body = _independent_request(f"{emulator.url}/v1/volumes?limit=20&name=volume01")
    assert status == 200
    assert [v["name"] for v in body["volumes"]] == ["volume01"]

"""The emulator's own behaviour: authentication, versions, extension rules, states, faults."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from scp_volume_mcp.emulator import (
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    EmulatorServer,
    EmulatorState,
    Fault,
    default_volumes,
    load_volumes,
)
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpAuth, ScpClient, ScpConflict

VOLUMES = {v["name"]: v["id"] for v in default_volumes()}


def _client(
    emulator: EmulatorServer,
    *,
    secret: str = EMULATOR_SECRET_KEY,
    access: str = EMULATOR_ACCESS_KEY,
    clock: Any = time.time,
    version: str | None = "virtualserver 1.3",
) -> httpx.Client:
    headers = {"Scp-Api-Version": version} if version else {}
    return httpx.Client(base_url=emulator.url, auth=ScpAuth(access, SecretStr(secret), clock=clock), headers=headers)


def _errors(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["detail"])


def test_a_signed_request_is_served(emulator: EmulatorServer) -> None:
    with _client(emulator) as client:
        response = client.get(f"/v1/volumes/{EXAMPLE_VOLUME_ID}")
    assert response.status_code == 200
    assert response.json()["max_iops"] == 10000
    assert response.headers["x-request-id"] == emulator.state.journal[0].request_id
    assert "date" in response.headers


def test_unsigned_request_is_refused(emulator: EmulatorServer) -> None:
    response = httpx.get(f"{emulator.url}/v1/volumes")
    assert response.status_code == 401
    assert "Missing authentication header" in _errors(response)
    assert emulator.state.journal[0].signature_valid is False


def test_wrong_access_key_and_wrong_secret(emulator: EmulatorServer) -> None:
    with _client(emulator, access="someone-else") as client:
        assert _errors(client.get("/v1/volumes")) == "Unknown access key"
    with _client(emulator, secret="not-the-secret") as client:
        assert _errors(client.get("/v1/volumes")) == "Signature does not match"


def test_tampered_message_is_refused(emulator: EmulatorServer) -> None:
    """Sign one URL, send another: the signature no longer matches what arrived."""
    auth = ScpAuth(EMULATOR_ACCESS_KEY, SecretStr(EMULATOR_SECRET_KEY))
    signed = next(auth.auth_flow(httpx.Request("GET", f"{emulator.url}/v1/volumes?limit=1")))
    response = httpx.get(f"{emulator.url}/v1/volumes?limit=2", headers=dict(signed.headers))
    assert response.status_code == 401
    signed = next(auth.auth_flow(httpx.Request("GET", f"{emulator.url}/v1/volumes/{EXAMPLE_VOLUME_ID}")))
    response = httpx.put(
        f"{emulator.url}/v1/volumes/{EXAMPLE_VOLUME_ID}/size",
        json={"size": 104},
        headers=dict(signed.headers),
    )
    assert response.status_code == 401
    assert emulator.state.get(EXAMPLE_VOLUME_ID)["size"] == 100  # type: ignore[index]


def test_stale_timestamp_is_refused_unless_the_window_is_off(emulator: EmulatorServer) -> None:
    with _client(emulator, clock=lambda: time.time() - 16 * 60) as client:
        response = client.get("/v1/volumes")
        assert response.status_code == 401
        assert "away from the server clock" in _errors(response)
        emulator.state.settings.timestamp_window_s = None
        assert client.get("/v1/volumes").status_code == 200


def test_versions(emulator: EmulatorServer) -> None:
    path = f"/v1/volumes/{EXAMPLE_VOLUME_ID}"
    with _client(emulator, version=None) as client:
        assert "max_iops" in client.get(path).json()  # absent header: the current version
    for version, has_performance in [("1.0", False), ("1.1", False), ("1.2", True), ("1.3", True)]:
        with _client(emulator, version=f"virtualserver {version}") as client:
            assert ("max_iops" in client.get(path).json()) is has_performance
    for bad, status in (("virtualserver 9.9", 406), ("1.3", 400), ("compute 1.3", 400)):
        with _client(emulator, version=bad) as client:
            response = client.get(path)
            assert response.status_code == status
            assert "Unsupported Scp-Api-Version" in _errors(response)


@pytest.mark.parametrize(
    ("name", "body", "status", "detail"),
    [
        ("volume01", {"size": 96}, 400, "Volume size must be expanded: current 100 GB, requested 96 GB."),
        (
            "data-available",
            {"size": 64},
            400,
            "Volume size must be expanded: current 64 GB, requested 64 GB.",
        ),
        ("volume01", {"size": 106}, 400, "multiple of 8"),
        ("volume01", {"size": 4}, 400, "at least 8"),
        ("volume01", {"size": "104"}, 400, "Request body must be"),
        ("volume01", {"size": 104.0}, 400, "Request body must be"),
        ("volume01", {"size": True}, 400, "Request body must be"),
        ("volume01", {"size": 12296}, 400, "per-volume quota of 12288 GB"),
        ("busy-extending", {"size": 56}, 409, "is already being extended"),
        ("broken-error", {"size": 40}, 409, "is error"),
        ("new-creating", {"size": 24}, 409, "is creating"),
    ],
)
def test_extension_rules(emulator: EmulatorServer, name: str, body: Any, status: int, detail: str) -> None:
    volume_id = VOLUMES[name]
    before = emulator.state.get(volume_id)
    with _client(emulator) as client:
        response = client.put(f"/v1/volumes/{volume_id}/size", json=body)
    assert response.status_code == status
    assert detail in _errors(response)
    assert emulator.state.get(volume_id) == before


def test_unknown_volume(emulator: EmulatorServer) -> None:
    with _client(emulator) as client:
        response = client.put("/v1/volumes/00000000-0000-4000-8000-000000000000/size", json={"size": 16})
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["volume01", "data-available"])
def test_extension_passes_through_extending(emulator: EmulatorServer, name: str) -> None:
    emulator.state.settings.extend_seconds = 0.3
    volume_id = VOLUMES[name]
    before = emulator.state.get(volume_id)
    assert before is not None
    target = (before["size"] // 8 + 1) * 8
    with _client(emulator) as client:
        accepted = client.put(f"/v1/volumes/{volume_id}/size", json={"size": target})
        assert accepted.status_code == 202
        assert (accepted.json()["state"], accepted.json()["size"]) == ("extending", before["size"])
        again = client.put(f"/v1/volumes/{volume_id}/size", json={"size": target + 8})
        assert again.status_code == 409
        time.sleep(0.35)
        after = client.get(f"/v1/volumes/{volume_id}").json()
    assert (after["state"], after["size"]) == (before["state"], target)


def test_attached_volume_can_stay_in_use_while_extending(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 0.3
    emulator.state.settings.attached_stays_in_use = True
    with _client(emulator) as client:
        accepted = client.put(f"/v1/volumes/{EXAMPLE_VOLUME_ID}/size", json={"size": 104}).json()
        assert (accepted["state"], accepted["size"]) == ("in-use", 100)
        time.sleep(0.35)
        assert client.get(f"/v1/volumes/{EXAMPLE_VOLUME_ID}").json()["size"] == 104


@pytest.mark.anyio
async def test_the_emulator_refuses_a_resize_while_one_is_under_way(emulator: EmulatorServer, scp: ScpClient) -> None:
    emulator.state.settings.extend_seconds = 2.0
    emulator.state.settings.attached_stays_in_use = True
    await scp.resize_volume(EXAMPLE_VOLUME_ID, 200)
    with pytest.raises(ScpConflict):
        await scp.resize_volume(EXAMPLE_VOLUME_ID, 104)


def test_zero_duration_answers_with_the_new_size(emulator: EmulatorServer) -> None:
    with _client(emulator) as client:
        body = client.put(f"/v1/volumes/{EXAMPLE_VOLUME_ID}/size", json={"size": 104}).json()
    assert (body["state"], body["size"]) == ("in-use", 104)


def test_list_pages_with_marker_and_offset(emulator: EmulatorServer) -> None:
    with _client(emulator) as client:
        first = client.get("/v1/volumes", params={"limit": 3}).json()
        assert first["count"] == 7
        ids = [v["id"] for v in first["volumes"]]
        second = client.get("/v1/volumes", params={"limit": 3, "marker": ids[-1]}).json()
        assert second["volumes"][0]["id"] not in ids
        assert client.get("/v1/volumes", params={"limit": 3, "offset": 6}).json()["volumes"][0]["name"] == "archive"
        assert client.get("/v1/volumes", params={"marker": "nope"}).status_code == 400
        assert client.get("/v1/volumes", params={"limit": 0}).status_code == 400


def test_faults_apply_to_the_next_n_requests_of_a_route(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("show", status=503, count=2))
    with _client(emulator) as client:
        assert client.get("/v1/volumes").status_code == 200  # another route is untouched
        statuses = [client.get(f"/v1/volumes/{EXAMPLE_VOLUME_ID}").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_a_fault_can_let_the_extension_happen_behind_it(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("extend", status=500, apply=True))
    with _client(emulator) as client:
        assert client.put(f"/v1/volumes/{EXAMPLE_VOLUME_ID}/size", json={"size": 104}).status_code == 500
    assert emulator.state.get(EXAMPLE_VOLUME_ID)["size"] == 104  # type: ignore[index]


def test_dropped_connection_and_malformed_body(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("list", drop=True))
    emulator.state.add_fault(Fault("show", malformed=True))
    with _client(emulator) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/volumes")
        response = client.get(f"/v1/volumes/{EXAMPLE_VOLUME_ID}")
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_latency(emulator: EmulatorServer) -> None:
    emulator.state.add_fault(Fault("quota", latency_s=0.2))
    with _client(emulator) as client:
        started = time.monotonic()
        assert client.get("/v1/volumes/quota-sets").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_bad_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown route"):
        Fault("delete")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        Fault("show", count=0)


def test_journal_records_what_was_sent(emulator: EmulatorServer) -> None:
    with _client(emulator) as client:
        client.put(f"/v1/volumes/{EXAMPLE_VOLUME_ID}/size", json={"size": 104})
    [entry] = emulator.state.journal
    assert (entry.method, entry.route, entry.body, entry.status) == ("PUT", "extend", {"size": 104}, 202)
    assert (entry.version_header, entry.signature_valid) == ("virtualserver 1.3", True)


def test_control_api_for_rehearsals(emulator: EmulatorServer) -> None:
    fault = httpx.post(f"{emulator.url}/_emulator/faults", json={"route": "show", "status": 429})
    assert fault.status_code == 200
    assert httpx.post(f"{emulator.url}/_emulator/faults", json={"route": "nope"}).status_code == 400
    with _client(emulator) as client:
        assert client.get(f"/v1/volumes/{EXAMPLE_VOLUME_ID}").status_code == 429
    journal = httpx.get(f"{emulator.url}/_emulator/journal").json()["requests"]
    assert [r["status"] for r in journal] == [429]
    assert httpx.post(f"{emulator.url}/_emulator/reset", json={}).status_code == 200
    assert emulator.state.journal.entries() == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Host": "evil.example:8765"}, '{"route": "show", "status": 500}'),
        ({"Origin": "http://evil.example"}, '{"route": "show", "status": 500}'),
        ({"Content-Type": "text/plain"}, '{"route": "show", "status": 500}'),
    ],
)
def test_control_routes_refuse_what_a_web_page_could_send(
    emulator: EmulatorServer, headers: dict[str, str], body: str
) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/faults", content=body, headers=headers)
    assert answer.status_code == 403
    assert httpx.get(f"{emulator.url}/_emulator/journal", headers={"Host": "evil.example"}).status_code == 403
    assert emulator.state.faults.take("show") is None


def test_control_routes_still_answer_local_json(emulator: EmulatorServer) -> None:
    answer = httpx.post(f"{emulator.url}/_emulator/faults", json={"route": "show", "status": 500})
    assert answer.status_code == 200


def test_volumes_load_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "volumes.json"
    path.write_text(json.dumps({"volumes": [{"id": EXAMPLE_VOLUME_ID, "size": 8, "state": "available"}]}))
    state = EmulatorState(load_volumes(path))
    assert [v["size"] for v in state.all()] == [8]
    path.write_text(json.dumps([{"id": "x"}]))
    with pytest.raises(ValueError, match="missing size"):
        load_volumes(path)


def test_emulator_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        EmulatorServer(host="0.0.0.0")

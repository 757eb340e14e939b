"""The resize request's send decision, without MCP and without the emulator: a table of what the platform does
with the PUT (and what a read shows after an ambiguous failure) against what is decided: sent or not, sent
again or not (never: no read proves a resize was not applied), the outcome or the error, and the facts the
attempt records. The platform is an
`httpx.MockTransport` scripted per case."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from scp_volume_mcp.extension import Attempt, Failed, Refused
from scp_volume_mcp.extension.send import send_resize
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, ScpClient, load_config

pytestmark = pytest.mark.anyio

Answer = Callable[[httpx.Request], httpx.Response]


def volume(size: int, state: str = "available") -> dict[str, Any]:
    return {
        "id": EXAMPLE_VOLUME_ID, "name": "data", "size": size, "state": state, "volume_type": "SSD",
        "encrypted": False, "bootable": False, "multiattach": False, "servers": [],
    }  # fmt: skip


def ok(body: Any, status: int = 202) -> Answer:
    return lambda request: httpx.Response(status, json=body, headers={"x-request-id": f"req-{status}"})


def raw(text: str, status: int = 202) -> Answer:
    return lambda request: httpx.Response(status, text=text, headers={"x-request-id": "req-raw"})


def error(status: int) -> Answer:
    body = {"errors": [{"code": "Conflict", "detail": "another operation is in progress", "status": str(status)}]}
    return lambda request: httpx.Response(status, json=body, headers={"x-request-id": f"req-{status}"})


def fails(exc: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("scripted", request=request)

    return answer


@dataclass
class Case:
    puts: list[Answer]
    """The platform's answer to each PUT, in order."""
    reads: list[Answer] = field(default_factory=list)
    """Its answer to each GET of the volume (the read back), in order."""
    outcome: type[Failed | Refused] | int = 104
    """The error raised, or the size of the volume returned."""
    sent: bool = True
    status: int | None = None
    note: str | None = None
    """A phrase the returned note contains (None: no note)."""
    message: str = ""
    """A phrase the error's message contains."""


CASES: dict[str, Case] = {
    "accepted": Case([ok(volume(104, "extending"))], status=202),
    "accepted, already at the size": Case([ok(volume(104))], status=202),
    "refused by the platform (409)": Case([error(409)], outcome=Failed, status=409, message="409"),
    "refused by the platform (400)": Case([error(400)], outcome=Failed, status=400),
    "accepted in words we cannot read, read back shows the size": Case(
        [raw("{not json")], [ok(volume(104), 200)], status=202, note="unreadable body"
    ),
    "accepted in words we cannot read, read back fails": Case(
        [raw("{not json")], [error(500)], outcome=Failed, status=202, message="is unknown"
    ),
    "never connected": Case([fails(httpx.ConnectError)], outcome=Refused, sent=False, message="not"),
    "dropped, read back shows it applied": Case(
        [fails(httpx.RemoteProtocolError)], [ok(volume(104), 200)], note="dropped"
    ),
    "dropped, read back shows a failed state": Case(
        [fails(httpx.RemoteProtocolError)],
        [ok(volume(100, "error_extending"), 200)],
        outcome=Failed,
        message="error_extending",
    ),
    "dropped, read back shows it still extending": Case(
        [fails(httpx.RemoteProtocolError)], [ok(volume(100, "extending"), 200)], outcome=100, note="extending"
    ),
    "dropped, read back shows the old size: unknown, not sent again": Case(
        [fails(httpx.RemoteProtocolError)],
        [ok(volume(100), 200)],
        outcome=Failed,
        message="nothing was sent again",
    ),
    "timed out, read back shows the old size: unknown, not sent again": Case(
        [fails(httpx.ReadTimeout)], [ok(volume(100), 200)], outcome=Failed, message="nothing was sent again"
    ),
    "timed out, read back shows it applied": Case(
        [fails(httpx.ReadTimeout)], [ok(volume(104), 200)], note="was applied"
    ),
    # A 5xx proves nothing: a gateway may answer after the platform applied the request. Read back, never sent
    # again, and the attempt stays open (its status is not a refusal).
    **{
        f"{status} from a gateway, read back shows it applied": Case(
            [error(status)], [ok(volume(104), 200)], status=status, note="was applied"
        )
        for status in (500, 502, 503, 504)
    },
    **{
        f"{status} from a gateway, read back shows it still extending": Case(
            [error(status)], [ok(volume(100, "extending"), 200)], outcome=100, status=status, note="extending"
        )
        for status in (502, 504)
    },
    **{
        f"{status} from a gateway, read back shows the old size: unknown, not sent again": Case(
            [error(status)], [ok(volume(100), 200)], outcome=Failed, status=status, message="nothing was sent again"
        )
        for status in (500, 502, 503, 504)
    },
    "502 from a gateway, read back fails: unknown, may be under way": Case(
        [error(502)], [error(500)], outcome=Failed, status=502, message="may be under way"
    ),
}


class Platform:
    """Answers each PUT and each GET from its script; records what it received."""

    def __init__(self, case: Case) -> None:
        self.puts, self.reads = list(case.puts), list(case.reads)
        self.received: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.received.append((request.method, body))
        script = self.puts if request.method == "PUT" else self.reads
        assert script, f"unexpected {request.method} {request.url.path}"
        return script.pop(0)(request)


@pytest.mark.parametrize("name", list(CASES))
async def test_the_send_decision(name: str) -> None:
    case = CASES[name]
    platform = Platform(case)
    config = load_config(access_key="ak", secret_key="sk", endpoint="https://scp.test", env={})
    client = ScpClient(config, transport=httpx.MockTransport(platform), read_attempts=1, backoff_s=0)
    attempt = Attempt(EXAMPLE_VOLUME_ID, 104, 100)
    try:
        if isinstance(case.outcome, int):
            answer = await send_resize(client, attempt)
            shown, note = answer.volume, answer.note
            assert shown.size == case.outcome
            assert (note is None) == (case.note is None), note
            assert case.note is None or (note is not None and case.note in note), note
        else:
            with pytest.raises(case.outcome) as raised:
                await send_resize(client, attempt)
            assert isinstance(raised.value, Failed | Refused)
            assert getattr(raised.value, "attempt", attempt) is attempt
            assert case.message in raised.value.message, raised.value.message
            if case.status is None or case.status >= 500:  # its fate is not known: it may be under way
                assert "try again" not in raised.value.message
    finally:
        await client.aclose()
    assert attempt.sent is case.sent
    assert attempt.status == case.status
    assert attempt.status is None or attempt.request_id == f"req-{case.status}" or attempt.request_id == "req-raw"
    assert platform.puts == [], "every scripted answer to a PUT was used"
    assert platform.reads == [], "every scripted answer to a read was used"
    assert all(body == {"size": 104} for method, body in platform.received if method == "PUT")
    failed_on_its_own = case.status is not None and 400 <= case.status < 500
    assert attempt.resize_may_be_pending is (case.sent and not failed_on_its_own), "a 5xx keeps the attempt open"

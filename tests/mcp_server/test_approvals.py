"""The second approver, end to end: `serve --transport http` replicas in subprocesses, a real PostgreSQL, real
JWTs from a loopback issuer with several subjects, and the emulator, whose journal shows what was sent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from scp_volume_mcp.emulator import EmulatorServer, Fault
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID

from ..mcp_helpers import answer, text
from .test_card import AppsHost, plan_card, press
from .test_oauth import Issuer, call, oauth_env
from .test_transports import http_server, scp_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
EXTEND = "volumes:read volumes:extend"
APPROVE = "volumes:read volumes:approve"
OTHER_VOLUME_ID = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"  # data-available, 64 GB
BIG = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 128, "confirm": True}  # 100 GB -> 128 GB: 28 GB of growth


def _policy(tmp_path: Path, approval: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(f"[limits]\nmax_growth_gb = 512\n[approval]\n{approval}\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A loopback authorization server whose tokens name any subject (alice asks, bob and carol approve)."""
    server = Issuer()
    yield server
    server.close()


@contextmanager
def _team(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, policy: str, replicas: int = 1, confirmation: str = "flag"
) -> Iterator[list[str]]:
    """`replicas` servers sharing the team database, with OAuth and the policy file: their MCP URLs."""
    oauth = oauth_env(issuer)

    def replica() -> AbstractContextManager[str]:
        return http_server(emulator, **oauth, SCP_DATABASE_URL=team_db, SCP_POLICY_FILE=policy,
                           SCP_CONFIRMATION=confirmation)  # fmt: skip

    with replica() as first:
        if replicas == 1:
            yield [first]
            return
        with replica() as second:
            yield [first, second]


def _audit(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(b"SELECT phase, outcome, caller, detail FROM scp_volume_audit ORDER BY id").fetchall()
    return [dict(zip(("phase", "outcome", "caller", "detail"), row, strict=True)) for row in rows]


async def _request(url: str, issuer: Issuer, requester: str = "alice") -> str:
    asked = await call(url, issuer.token(requester, EXTEND), "extend_volume", BIG)
    assert not asked.is_error, text(asked)
    result = asked.structured_content
    assert result is not None
    assert result["outcome"] == "awaiting_approval"
    assert result["request_sent"] is False
    return str(result["approval"]["request_id"])


async def test_a_big_extension_waits_for_a_second_person_who_runs_it_once(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy) as [url]:
        small = {"volume_id": OTHER_VOLUME_ID, "new_size_gb": 72, "confirm": True}  # 8 GB: no second person
        extended = await call(url, issuer.token("alice", EXTEND), "extend_volume", small)
        assert not extended.is_error, text(extended)
        assert extended.structured_content is not None
        assert extended.structured_content["outcome"] in ("completed", "accepted")

        asked = await call(url, issuer.token("alice", EXTEND), "extend_volume", BIG)
        assert not asked.is_error, text(asked)
        waiting = asked.structured_content
        assert waiting is not None
        assert waiting["outcome"] == "awaiting_approval"
        assert waiting["approval"]["rule"] == (
            "approval: second_person_over_gb 16 (growth in the last 24 hours, this step included) (policy file)"
        )
        assert waiting["approval"]["requester"] == "alice"
        assert waiting["approval"]["approver_scope"] == "volumes:approve"
        request_id = waiting["approval"]["request_id"]
        assert "nothing was sent" in text(asked)
        assert request_id in text(asked)
        assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 72}]

        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert listed.structured_content is not None
        [entry] = listed.structured_content["requests"]
        assert (entry["request_id"], entry["previous_size_gb"], entry["requested_size_gb"], entry["requester"]) == (
            request_id, 100, 128, "alice",
        )  # fmt: skip

        decide = {"request_id": request_id, "approve": True}
        own = await call(url, issuer.token("alice", f"{EXTEND} volumes:approve"), "approve_extension", decide)
        assert own.is_error
        assert "yourself" in text(own)
        assert own.structured_content is not None
        assert own.structured_content["reasons"] == ["approval"]
        unscoped = await call(url, issuer.token("bob", EXTEND), "approve_extension", decide)
        assert unscoped.is_error
        assert "volumes:approve" in text(unscoped)
        assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 72}]

        approved = await call(url, issuer.token("bob", APPROVE), "approve_extension", {**decide, "wait": True})
        assert not approved.is_error, text(approved)
        done = approved.structured_content
        assert done is not None
        assert (done["outcome"], done["confirmed_by"], done["new_size_gb"]) == ("completed", "approval", 128)
        assert (done["approval"]["requester"], done["approval"]["approver"]) == ("alice", "bob")
        assert '"bob"' in text(approved)
        assert '"alice"' in text(approved)

        again = await call(url, issuer.token("carol", APPROVE), "approve_extension", decide)
        assert again.is_error
        assert "already approved" in text(again)
        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert listed.structured_content is not None
        assert listed.structured_content["requests"] == []
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 72}, {"size": 128}]
    records = _audit(team_db)
    assert [(r["phase"], r["outcome"], r["caller"]) for r in records[2:]] == [
        ("outcome", "awaiting_approval", "alice"),
        ("outcome", "refused", "alice"),  # her own request
        ("intent", None, "bob"),
        ("outcome", "completed", "bob"),
        ("outcome", "refused", "carol"),  # decided already
    ]
    assert all(request_id in (r["detail"] or "") for r in records[2:])
    assert '"alice"' in records[5]["detail"]
    assert 'approved by "bob"' in records[5]["detail"]


async def test_two_approvals_racing_on_two_replicas_extend_once(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    emulator.state.settings.extend_seconds = 0.5
    policy = _policy(tmp_path, 'protected = ["volume0*"]')
    with _team(emulator, issuer, team_db, policy, replicas=2) as [first, second]:
        asked = await call(first, issuer.token("alice", EXTEND), "extend_volume", {**BIG, "new_size_gb": 104})
        assert asked.structured_content is not None
        assert asked.structured_content["approval"]["rule"] == 'approval: protected "volume0*" (policy file)'
        request_id = asked.structured_content["approval"]["request_id"]
        results: dict[str, Any] = {}

        async def approve(url: str, who: str) -> None:
            decide = {"request_id": request_id, "approve": True}
            results[who] = await call(url, issuer.token(who, APPROVE), "approve_extension", decide)

        async with anyio.create_task_group() as tg:
            tg.start_soon(approve, first, "bob")
            tg.start_soon(approve, second, "carol")
    outcomes = sorted((r.is_error, text(r)) for r in results.values())
    assert [is_error for is_error, _ in outcomes] == [False, True], outcomes
    assert "already" in outcomes[1][1]
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]


async def test_an_approval_after_a_manual_change_refuses_and_sends_nothing(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy) as [url]:
        request_id = await _request(url, issuer)
        emulator.state.put({**(emulator.state.get(EXAMPLE_VOLUME_ID) or {}), "size": 112})  # someone, in the console
        decide = {"request_id": request_id, "approve": True}
        refused = await call(url, issuer.token("bob", APPROVE), "approve_extension", decide)
        assert refused.is_error
        assert "112 GB now, not the 100 GB" in text(refused)
        assert "Nothing was sent" in text(refused)
        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert listed.structured_content is not None
        assert len(listed.structured_content["requests"]) == 1
    assert emulator.state.requests("PUT") == []


async def test_an_expired_request_cannot_be_approved(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "second_person_over_gb = 16\nrequest_ttl_hours = 0.0005")  # 1.8 s
    with _team(emulator, issuer, team_db, policy) as [url]:
        request_id = await _request(url, issuer)
        await anyio.sleep(2.0)
        refused = await call(url, issuer.token("bob", APPROVE), "approve_extension",
                             {"request_id": request_id, "approve": True})  # fmt: skip
        assert refused.is_error
        assert "expired" in text(refused)
        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert listed.structured_content is not None
        assert listed.structured_content["requests"] == []
    assert emulator.state.requests("PUT") == []


async def test_a_declined_request_sends_nothing_and_says_why(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy) as [url]:
        request_id = await _request(url, issuer)
        decide: dict[str, Any] = {"request_id": request_id, "approve": False}
        unexplained = await call(url, issuer.token("bob", APPROVE), "approve_extension", decide)
        assert unexplained.is_error
        assert "reason" in text(unexplained)
        hostile = "not now\u202e</script><script>alert(1)</script>\n\x1b[31m"
        declined = await call(url, issuer.token("bob", APPROVE), "approve_extension", {**decide, "reason": hostile})
        assert not declined.is_error, text(declined)
        assert declined.structured_content is not None
        assert declined.structured_content["outcome"] == "declined"
        assert declined.structured_content["approval"]["approver"] == "bob"
        assert "\u202e" not in text(declined)
        assert "\x1b" not in text(declined)
        later = await call(url, issuer.token("carol", APPROVE), "approve_extension", {**decide, "approve": True})
        assert later.is_error
        assert "already declined" in text(later)
    assert emulator.state.requests("PUT") == []
    records = _audit(team_db)
    assert records[-2]["outcome"] == "declined"
    assert "declined by" in records[-2]["detail"]


async def test_the_resource_metadata_lists_the_approve_scope(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    import httpx

    with _team(emulator, issuer, team_db, _policy(tmp_path, "second_person_over_gb = 16")) as [url]:
        base = url.removesuffix("/mcp")
        async with httpx.AsyncClient() as http:
            metadata = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
    assert "volumes:approve" in metadata["scopes_supported"]


def test_approval_rules_need_oauth_and_the_team_database(emulator: EmulatorServer, tmp_path: Path) -> None:
    """Without OAuth identities (stdio, a static token) or the database, [approval] rules stop the server."""
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    base = {**os.environ, **scp_env(emulator), "SCP_POLICY_FILE": policy}
    stdio = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "serve"], env=base, capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)  # fmt: skip
    assert stdio.returncode == 2
    assert "[approval] rules" in stdio.stderr
    assert "second_person_over_gb 16" in stdio.stderr
    assert stdio.stdout == ""  # stdout belongs to the protocol
    http = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--no-auth"],
                          env=base, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert http.returncode == 2
    assert "SCP_MCP_OAUTH_ISSUER" in http.stderr
    doctor = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "doctor"], env=base, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert doctor.returncode != 0
    assert "[approval] rules" in doctor.stdout + doctor.stderr


async def test_a_subject_with_invisible_characters_is_still_its_requester(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    """The request stores the requester's subject cleaned; the approver's is compared in the same form, so a
    zero-width character (or a subject past the stored length) cannot make one person two."""
    subject = "dave\u200b" + "x" * 300
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy) as [url]:
        request_id = await _request(url, issuer, requester=subject)
        decide = {"request_id": request_id, "approve": True}
        own = await call(url, issuer.token(subject, f"{EXTEND} volumes:approve"), "approve_extension", decide)
        assert own.is_error
        assert "yourself" in text(own)
    assert emulator.state.requests("PUT") == []


async def test_a_token_without_a_subject_names_nobody(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    """Two devices of one person are two client ids, not two people: without a subject nothing is requested or
    approved."""
    with _team(emulator, issuer, team_db, _policy(tmp_path, "second_person_over_gb = 16")) as [url]:
        nameless = issuer.token("", EXTEND, client_id="alice-laptop")
        asked = await call(url, nameless, "extend_volume", BIG)
        assert asked.is_error
        assert "names no subject" in text(asked)
        request_id = await _request(url, issuer)
        decide = {"request_id": request_id, "approve": True}
        approved = await call(url, issuer.token("", APPROVE, client_id="alice-phone"), "approve_extension", decide)
        assert approved.is_error
        assert "names no subject" in text(approved)
    assert emulator.state.requests("PUT") == []


async def test_under_the_human_policy_an_approver_who_cannot_be_asked_is_refused(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy, confirmation="human") as [url]:
        cannot_ask = await call(url, issuer.token("alice", EXTEND), "extend_volume", BIG)
        assert cannot_ask.is_error  # under human, the requester's person says yes before a request is filed
        assert cannot_ask.structured_content["reasons"] == ["human_required"]
        filed = await _asked_call(url, issuer.token("alice", EXTEND), "accept", [])
        request_id = filed.structured_content["approval"]["request_id"]
        decide = {"request_id": request_id, "approve": True}
        refused = await call(url, issuer.token("bob", APPROVE), "approve_extension", decide)
        assert refused.is_error
        assert "SCP_CONFIRMATION=human" in text(refused)
        declined = await call(url, issuer.token("bob", APPROVE), "approve_extension",
                              {**decide, "approve": False, "reason": "too big"})  # fmt: skip
        assert not declined.is_error, text(declined)
    assert emulator.state.requests("PUT") == []


async def test_two_requests_from_one_size_approved_at_once_extend_once(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    """Two requests made from 100 GB, approved at once on two replicas (the first PUT slow): one resize. Which
    guard stops the second depends on timing (the first's open attempt, or, under the lock, a volume no longer at
    the size approved: tests/extension/test_service.py pins that one down)."""
    emulator.state.settings.extend_seconds = 0.0
    emulator.state.add_fault(Fault("extend", latency_s=1.5))
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy, replicas=2) as [first, second]:
        small = await _request(first, issuer)
        big = await call(first, issuer.token("alice", EXTEND), "extend_volume", {**BIG, "new_size_gb": 200})
        assert big.structured_content is not None
        results: list[Any] = []

        async def approve(url: str, who: str, request_id: str) -> None:
            decide = {"request_id": request_id, "approve": True}
            results.append(await call(url, issuer.token(who, APPROVE), "approve_extension", decide))

        async with anyio.create_task_group() as tg:
            tg.start_soon(approve, first, "bob", small)
            tg.start_soon(approve, second, "carol", big.structured_content["approval"]["request_id"])
    assert sorted(r.is_error for r in results) == [False, True], [text(r) for r in results]
    assert len(emulator.state.requests("PUT")) == 1
    [refused] = [r for r in results if r.is_error]
    assert "Nothing was sent" in text(refused)


async def test_the_approver_is_shown_cleaned_and_an_invisible_reason_is_none(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    with _team(emulator, issuer, team_db, _policy(tmp_path, "second_person_over_gb = 16")) as [url]:
        request_id = await _request(url, issuer)
        odd = "bob\u202e\x1b[31m" + "y" * 5000
        decide: dict[str, Any] = {"request_id": request_id, "approve": False, "reason": "\u200b\u200b"}
        empty = await call(url, issuer.token(odd, APPROVE), "approve_extension", decide)
        assert empty.is_error
        assert "reason" in text(empty)
        declined = await call(url, issuer.token(odd, APPROVE), "approve_extension", {**decide, "reason": "no"})
    assert declined.structured_content is not None
    approver = declined.structured_content["approval"]["approver"]
    assert approver.startswith("bob")
    assert len(approver) <= 200
    assert "\u202e" not in approver
    assert "\x1b" not in approver
    assert "\x1b" not in text(declined)


def test_the_approval_tables_refuse_truncate(team_db: str) -> None:
    for table in ("scp_volume_approval_request", "scp_volume_approval_decision"):
        with psycopg.connect(team_db, autocommit=True) as conn, pytest.raises(psycopg.errors.RaiseException):
            conn.execute(f"TRUNCATE {table} CASCADE".encode())


async def test_the_approver_confirms_in_a_form_where_the_client_can_ask(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from ..mcp_helpers import answer

    asked: list[str] = []

    async def approve_with(url: str, action: str, request_id: str) -> Any:
        headers = {"Authorization": f"Bearer {issuer.token('bob', APPROVE)}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(
                streamable_http_client(url, http_client=http), elicitation_callback=answer(action, asked=asked)
            ) as client,
        ):
            return await client.call_tool("approve_extension", {"request_id": request_id, "approve": True})

    with _team(emulator, issuer, team_db, _policy(tmp_path, "second_person_over_gb = 16"), confirmation="auto") as [
        url
    ]:
        request_id = await _request(url, issuer)
        said_no = await approve_with(url, "decline", request_id)
        assert said_no.is_error
        assert "did not confirm the approval" in text(said_no)
        assert emulator.state.requests("PUT") == []
        said_yes = await approve_with(url, "accept", request_id)
    assert not said_yes.is_error, text(said_yes)
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 128}]
    assert len(asked) == 2
    assert '"alice"' in asked[0]
    assert "100 GB to 128 GB" in asked[0]


async def _asked_call(url: str, token: str, action: str, asked: list[str]) -> Any:
    """`extend_volume` from a client whose person answers the form with `action`."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(url, http_client=http), elicitation_callback=answer(action, asked=asked)) as c,
    ):
        return await c.call_tool("extend_volume", BIG)


async def test_under_human_the_requesters_person_is_asked_before_a_request_is_filed(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    """A prompt-injected model cannot file a request in alice's name: her person says yes first, and a decline
    files nothing."""
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    asked: list[str] = []
    with _team(emulator, issuer, team_db, policy, confirmation="human") as [url]:
        declined = await _asked_call(url, issuer.token("alice", EXTEND), "decline", asked)
        assert not declined.is_error, text(declined)
        assert declined.structured_content["outcome"] == "declined"
        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert listed.structured_content["requests"] == []
        accepted = await _asked_call(url, issuer.token("alice", EXTEND), "accept", asked)
        assert accepted.structured_content["outcome"] == "awaiting_approval", text(accepted)
        listed = await call(url, issuer.token("bob", APPROVE), "list_extension_requests", {})
        assert [r["requester"] for r in listed.structured_content["requests"]] == ["alice"]
    assert len(asked) == 2
    assert "128 GB" in asked[0]
    assert emulator.state.requests("PUT") == []


async def test_the_same_facts_are_refused_in_the_same_words_by_the_tool_the_card_and_the_approval(
    emulator: EmulatorServer, issuer: Issuer, team_db: str, tmp_path: Path
) -> None:
    """Three ways in, one preflight: with a resize of the volume still open, the tool, the card's button and a
    second person's approval refuse 100 -> 128 GB with the same sentence, and none of them sends anything."""
    policy = _policy(tmp_path, "second_person_over_gb = 16")
    with _team(emulator, issuer, team_db, policy) as [url]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {issuer.token('alice', EXTEND)}"}) as http,
            Client(streamable_http_client(url, http_client=http), extensions=[AppsHost()]) as apps_host,
        ):
            card = await plan_card(apps_host, EXAMPLE_VOLUME_ID, 128)  # shown while nothing blocks the volume
            request_id = await _request(url, issuer)
            emulator.state.add_fault(Fault("extend", status=503))  # its answer lost: the attempt stays open
            small = {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": True}
            lost = await call(url, issuer.token("alice", EXTEND), "extend_volume", small)
            assert lost.is_error
            assert "may be under way" in text(lost)
            by_tool = await call(url, issuer.token("alice", EXTEND), "extend_volume", BIG)
            by_card = await press(apps_host, card, "approve")
        by_approval = await call(url, issuer.token("bob", APPROVE), "approve_extension",
                                 {"request_id": request_id, "approve": True})  # fmt: skip
    for refused in (by_tool, by_card, by_approval):
        assert refused.is_error
        assert refused.structured_content["reasons"] == ["pending"], text(refused)
    assert text(by_card) == text(by_tool)
    assert text(by_approval) == text(by_tool)  # refused as it stands: the request is not spent
    assert [p.body for p in emulator.state.requests("PUT")] == [{"size": 104}]

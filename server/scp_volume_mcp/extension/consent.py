"""Consent, as one table: who is asked, and how, before an extension runs.

The rows are the confirmation mode (`SCP_CONFIRMATION`), who is deciding (the person asking for an extension,
or the second person approving one) and what the client can do on this request, which the MCP adapter reads
from the transport and the protocol era (`mcp_tools.consent.client_kind`):

- `card`: the host renders MCP Apps: the person sees the plan in the confirmation card and presses a button;
- `form`: the client can put a question to its person (form elicitation; from protocol 2026-07-28 the question
  travels inside the tool result, before it `elicitation/create` is sent mid-call);
- `none`: the client cannot ask anyone;
- `unknowable`: a 2025-era client of a stateless HTTP server: its capabilities were declared on another
  connection, and a mid-call question has no way back, so nobody can tell whether a person would be asked.

| mode | who | card | form | none | unknowable |
|---|---|---|---|---|---|
| flag | requester, approver | flag | flag | flag | flag |
| auto | requester | card | form | flag | refuse |
| auto | approver | form | form | flag | refuse |
| human | requester | card | form | refuse | refuse |
| human | approver | form | form | refuse | refuse |

`flag`: no question; the `confirm` flag (or `approve`) stands. The card is never shown to an approver (its
question is the request's), so a host that renders apps is asked with a form. A requester is asked the same way
whether or not a policy rule then sends the extension to a second person: under `human` their person says yes
before the request is filed, and a decline files nothing. A size already there or already under way sends
nothing and asks nobody; a decline by an approver sends nothing and needs no question. No MCP here.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["flag", "auto", "human"]
Who = Literal["requester", "approver"]
ClientKind = Literal["card", "form", "none", "unknowable"]
KINDS: tuple[ClientKind, ...] = ("card", "form", "none", "unknowable")
"""The table's columns, in order."""
Consent = Literal["flag", "card", "form", "refuse_human_required", "refuse_unknowable"]

_REQUESTER: dict[Mode, dict[ClientKind, Consent]] = {
    "flag": {"card": "flag", "form": "flag", "none": "flag", "unknowable": "flag"},
    "auto": {"card": "card", "form": "form", "none": "flag", "unknowable": "refuse_unknowable"},
    "human": {"card": "card", "form": "form", "none": "refuse_human_required", "unknowable": "refuse_unknowable"},
}
_APPROVER: dict[Mode, dict[ClientKind, Consent]] = {
    "flag": {"card": "flag", "form": "flag", "none": "flag", "unknowable": "flag"},
    "auto": {"card": "form", "form": "form", "none": "flag", "unknowable": "refuse_unknowable"},
    "human": {"card": "form", "form": "form", "none": "refuse_human_required", "unknowable": "refuse_unknowable"},
}
TABLE: dict[Who, dict[Mode, dict[ClientKind, Consent]]] = {"requester": _REQUESTER, "approver": _APPROVER}


def consent_for(mode: Mode, who: Who, client: ClientKind) -> Consent:
    """How consent is had for an extension that would send a resize: the table above."""
    return TABLE[who][mode][client]

"""What the tools return: short summaries with a published output schema, never the raw API body.

Every platform string in them has passed `untrusted_text.field` (no control or invisible characters, at most
255 characters; `cut` says when one was shortened), and sentences use `untrusted_text.short`/`quoted`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from . import messages, untrusted_text
from .scp import Snapshot, Volume
from .settings import SnapshotPolicy

Outcome = Literal[
    "completed",
    "accepted",
    "unchanged",
    "under_way",
    "declined",
    "cancelled",
    "awaiting_approval",
    "awaiting_confirmation",
]
"""How an extension call ended without an error (a refusal is an error result: `Refusal`)."""
ConfirmedBy = Literal["human", "flag", "approval"]

MAX_ATTACHMENTS = 16
"""Attachments listed per volume (a multi-attach volume may have more; `cut` then says so)."""


class Attachment(BaseModel):
    server_id: str = Field(description="The virtual server the volume is attached to")
    device: str | None = Field(default=None, description="Device path in the guest, e.g. /dev/vda")


class VolumeSummary(BaseModel):
    id: str
    name: str | None
    size_gb: int
    state: str
    volume_type: str | None = None
    encrypted: bool | None = None
    bootable: bool | None = None
    multiattach: bool | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    max_iops: int | None = Field(default=None, description="Only in API versions 1.2 and later")
    max_throughput: int | None = Field(default=None, description="MB/s; only in API versions 1.2 and later")
    cut: bool = Field(
        default=False,
        description=f"True when a text from the platform was longer than {untrusted_text.FIELD_LIMIT} characters "
        f"(or the volume had more than {MAX_ATTACHMENTS} attachments) and was shortened here",
    )

    @classmethod
    def of(cls, volume: Volume) -> VolumeSummary:
        cleaned: list[untrusted_text.Cleaned] = []

        def clean_once(value: str | None) -> str | None:  # its text; whether it was cut is kept in `cleaned`
            if value is None:
                return None
            cleaned.append(untrusted_text.clean(value))
            return cleaned[-1].text

        volume_id, name, state, volume_type = (
            clean_once(t) for t in (volume.id, volume.name, volume.state, volume.volume_type)
        )
        servers = volume.servers[:MAX_ATTACHMENTS]
        attachments = [Attachment(server_id=clean_once(s.id) or "", device=clean_once(s.device)) for s in servers]
        return cls(
            id=volume_id or "",
            name=name,
            state=state or "",
            volume_type=volume_type,
            size_gb=volume.size,
            encrypted=volume.encrypted,
            bootable=volume.bootable,
            multiattach=volume.multiattach,
            attachments=attachments,
            max_iops=getattr(volume, "max_iops", None),
            max_throughput=getattr(volume, "max_throughput", None),
            cut=len(volume.servers) > MAX_ATTACHMENTS or any(c.cut for c in cleaned),
        )

    @property
    def maybe_more_attachments(self) -> bool:
        """True when attachments may have been left out: the summary was shortened and lists the most it shows
        (MAX_ATTACHMENTS), so "where" says "and more"."""
        return self.cut and len(self.attachments) >= MAX_ATTACHMENTS

    @property
    def label(self) -> str:
        """The name quoted as data, then the id."""
        return messages.volume_label(self.name, self.id)

    @property
    def where(self) -> str:
        """Where the volume is attached (which may have left attachments out)."""
        return messages.where([(a.server_id, a.device) for a in self.attachments], more=self.maybe_more_attachments)


class VolumeList(BaseModel):
    volumes: list[VolumeSummary]
    returned: int
    truncated: bool = Field(description="True when more volumes match than `limit` allowed to return")


class ExtendCall(BaseModel):
    name: Literal["extend_volume"] = "extend_volume"
    arguments: dict[str, Any]


# --- snapshots: the way back ---------------------------------------------------------------------


class SnapshotInfo(BaseModel):
    """A snapshot of the volume (its name and status are the platform's text, shown bounded)."""

    id: str
    name: str | None
    status: str
    size_gb: int | None = None
    created_at: str | None = None
    age_s: float | None = Field(default=None, description="Seconds since it was created; null when unknown")

    @classmethod
    def of(cls, snapshot: Snapshot, age_s: float | None) -> SnapshotInfo:
        return cls(
            id=untrusted_text.field(snapshot.id) or "",
            name=untrusted_text.field(snapshot.name),
            status=untrusted_text.field(snapshot.status) or "",
            size_gb=snapshot.size,
            created_at=untrusted_text.field(snapshot.created_at),
            age_s=round(age_s, 1) if age_s is not None else None,
        )


class SnapshotQuotaInfo(BaseModel):
    limit: int | None = Field(description="How many snapshots the account may have; null when not stated")
    in_use: int
    full: bool


class RestoreRequest(BaseModel):
    """The SCP request that makes a new volume from the snapshot (an extension itself cannot be undone)."""

    method: Literal["POST"] = "POST"
    path: Literal["/v1/volumes"] = "/v1/volumes"
    body: dict[str, Any] = Field(description="{name, size, snapshot_id, volume_type}")


class ExtensionPlan(BaseModel):
    volume: VolumeSummary
    current_size_gb: int
    target_size_gb: int
    growth_gb: int
    would_be_accepted: bool
    outcome_if_called: Literal["extend", "unchanged", "under_way", "refused"]
    reasons: list[str] = Field(description="Why it would be refused; empty when it would be accepted")
    per_volume_quota_gb: int | None = Field(description="Largest size of one volume; null: not stated or not readable")
    call: ExtendCall | None = Field(description="The exact extend_volume call to make, when it would be accepted")
    api_version: str
    next_steps: list[str] = Field(description="What to do after the extension; empty when it would not be sent")
    latest_snapshot: SnapshotInfo | None = Field(
        default=None, description="The volume's latest snapshot, the way back; null when none exists (or unreadable)"
    )
    snapshots_readable: bool = Field(default=True, description="False when the snapshots could not be read")
    snapshot_quota: SnapshotQuotaInfo | None = Field(default=None, description="null when not readable")
    snapshot_policy: SnapshotPolicy = Field(
        default="optional", description="optional: snapshot_first decides; required: always; off: never"
    )
    read_only: bool = Field(
        default=False, description="True when this server is read-only: extend_volume is not offered, so no call"
    )
    policy_rules: list[str] = Field(
        default_factory=list,
        description="The team policy's rules that apply (SCP_POLICY_FILE), e.g. 'limit: max_growth_gb 1024 "
        "(policy file)': a limit this size breaks, or the rule that sends it to a second person",
    )


class ApprovalInfo(BaseModel):
    """A second person's approval request behind an extension (the team policy's [approval] rules)."""

    request_id: str
    rule: str = Field(description="The team policy's rule that needs a second person")
    requester: str = Field(description="Who asked for the extension (their OAuth subject)")
    approver: str | None = Field(default=None, description="Who approved or declined it; None while it waits")
    expires_at: str = Field(description="When the request expires undecided (ISO 8601, the database's clock)")
    approver_scope: str = Field(description="The OAuth scope a second person needs to approve or decline it")


class WaitingRequest(BaseModel):
    request_id: str
    volume_id: str
    name: str | None
    previous_size_gb: int
    requested_size_gb: int
    snapshot_first: bool = Field(description="Whether the extension snapshots the volume first")
    rule: str = Field(description="The team policy's rule that needs a second person")
    requester: str
    age_s: float = Field(description="Seconds since it was requested (the database's clock)")
    expires_at: str = Field(description="When it expires undecided (ISO 8601)")


class ExtensionRequestList(BaseModel):
    requests: list[WaitingRequest] = Field(description="Undecided requests that have not expired, oldest first")
    returned: int
    approver_scope: str = Field(description="The OAuth scope needed to approve or decline them")


class UnderWay(BaseModel):
    """The attempt whose resize is under way (outcome under_way)."""

    attempt_id: str
    started_at: str = Field(description="When its intent was recorded (ISO 8601, UTC)")
    replica: str | None = Field(default=None, description="The server process that sent it")


class ExtendResult(BaseModel):
    """What extend_volume (and approve_extension, decide_extension_card) did. A refusal is an error result whose
    structured content has outcome refused, volume_id, request_sent false, reasons, message and the sizes read
    (current_size_gb, requested_size_gb, per_volume_quota_gb), and none of the other fields."""

    outcome: Outcome = Field(
        description="completed: the volume has the new size and is usable; accepted: the platform is still "
        "extending it; unchanged: it already had this size, nothing was sent; under_way: a resize to this size is "
        "already under way (see under_way), nothing more was sent; declined/cancelled: the human "
        "did not confirm, nothing was sent; awaiting_approval: the team policy needs a second person, nothing was "
        "sent (see approval); awaiting_confirmation: the person confirms in the confirmation card, nothing was sent"
    )
    volume_id: str
    name: str | None
    previous_size_gb: int
    new_size_gb: int
    observed_size_gb: int = Field(description="The size last seen on the platform")
    state: str = Field(description="The state last seen on the platform")
    volume_type: str | None = None
    encrypted: bool | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    max_iops: int | None = None
    max_throughput: int | None = None
    api_version: str
    confirmed_by: ConfirmedBy | None = Field(
        default=None,
        description="Who confirmed: a human through the client, the confirm flag alone, or a second person's "
        "approval (approve_extension)",
    )
    request_sent: bool = Field(description="Whether a resize request was sent to SCP by this call")
    waited_s: float | None = None
    note: str | None = None
    next_steps: list[str] = Field(default_factory=list)
    snapshot: SnapshotInfo | None = Field(default=None, description="The snapshot taken first, the way back")
    snapshot_required_by_policy: bool = Field(
        default=False, description="True when SCP_SNAPSHOT_POLICY=required made this extension snapshot first"
    )
    way_back: RestoreRequest | None = Field(default=None, description=messages.WAY_BACK_DESCRIPTION)
    approval: ApprovalInfo | None = Field(
        default=None,
        description="The second person's approval request: waiting (outcome awaiting_approval), or the one "
        "approve_extension carried out",
    )
    under_way: UnderWay | None = Field(default=None, description="The attempt already resizing the volume to this size")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The published output schema, which every result of the tools satisfies, refusals included (see
        `every_outcome`); results built here are still checked against this model, which has no refusal."""
        return every_outcome(handler.resolve_ref_schema(handler(core_schema)))


class Refusal(BaseModel):
    """An `extend_volume` call refused before anything was sent (the tool result is an error). Its structured
    content satisfies `ExtendResult`'s published schema (`every_outcome`)."""

    outcome: Literal["refused"] = "refused"
    reasons: list[str] = Field(
        description="shrink: smaller than now; size: not a size the platform takes; state: not available or "
        "in-use, or no longer the size a person approved (the card, a request); in_progress: an extension is under "
        "way; pending: an earlier attempt may still be resizing it to another size; quota: above the per-volume "
        "quota; policy: the team's policy file forbids it; not_found: no such volume; unreadable: the volume could "
        "not be read; scope, human_required, consent_unknowable: no consent here; audit, lock: the trail or the "
        "lock could not be had; snapshot: the snapshot first failed; approval: an approval request that cannot be "
        "carried out (the approver's own, expired, already decided, or no store for it); card: the card's token "
        "cannot be used (expired, used, another session's); other"
    )
    volume_id: str
    current_size_gb: int | None = Field(description="The size last read; null when the volume was not read")
    requested_size_gb: int = Field(description="The size asked for")
    per_volume_quota_gb: int | None = Field(
        default=None, description="Largest size of one volume; null: not stated or not readable"
    )
    request_sent: Literal[False] = False
    message: str = Field(description="The same words as the text")


REFUSAL_FIELDS = ("reasons", "current_size_gb", "requested_size_gb", "per_volume_quota_gb", "message")
"""What only a refusal carries, beside the outcome, volume_id and request_sent every result has."""


def every_outcome(schema: dict[str, Any]) -> dict[str, Any]:
    """`ExtendResult`'s schema made one that every result satisfies, a refusal's included: outcome may be
    `refused`, the refusal's fields are properties, and only what every result has is required. A result that
    is not a refusal still needs all of ExtendResult's required fields (`if`/`then`/`else`), and a refusal
    needs its own.

    Hosts built on the TypeScript SDK v1 and the Inspector check an error result's structured content against
    the output schema too; a refusal that failed it reached their users as a schema error instead of its reason
    (issue 30, tests/mcp_server/test_ts_clients.py)."""
    refusal = Refusal.model_json_schema()["properties"]
    schema["description"] = " ".join(schema["description"].split())  # the docstring, as one paragraph
    properties: dict[str, Any] = schema["properties"]
    outcome = properties["outcome"]
    outcome["enum"] = [*outcome["enum"], "refused"]
    outcome["description"] += "; refused: nothing was sent, and the result is an error (see reasons and message)"
    for name in REFUSAL_FIELDS:
        properties[name] = {**refusal[name], "description": f"Refused only. {refusal[name]['description']}"}
    result_only = [name for name in schema["required"] if name not in refusal]
    schema["required"] = [name for name in schema["required"] if name in refusal]
    schema["if"] = {"properties": {"outcome": {"const": "refused"}}}
    schema["then"] = {"required": list(REFUSAL_FIELDS)}
    schema["else"] = {"required": result_only}
    return schema

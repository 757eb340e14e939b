"""The MCP tools. Data flows one way: tool -> guards -> SCP client -> HTTP; no URL or header is built here."""

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, ElicitationResult, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field, Strict

from . import __version__
from .audit import AuditError, AuditLog, AuditRecord
from .consts import (
    FAILED_STATES,
    KNOWN_STATES,
    LIST_PAGE_SIZE_MAX,
    MIN_EXTEND_TARGET_GB,
    NEXT_STEPS,
    SETTLED_STATES,
    SIZE_STEP_GB,
    VOLUME_ID_PATTERN,
)
from .guards import Assessment, assess_extension
from .messages import explain
from .models import ExtendCall, ExtendResult, ExtensionPlan, Outcome, VolumeList, VolumeSummary
from .runtime import Runtime, default_client_factory
from .scp import (
    ScpError,
    ScpHttpError,
    ScpResponseError,
    ScpTimeoutError,
    ScpTransportError,
    Volume,
)
from .settings import ServerSettings

if TYPE_CHECKING:
    from .scp import ScpClient

logger = logging.getLogger("scp_volume_mcp")

INSTRUCTIONS = """\
Grows Samsung Cloud Platform block-storage volumes. Capacity can only grow and cannot be rolled back.
Workflow: find the volume id with list_volumes (by name), check with plan_volume_extension, then call
extend_volume with confirm=true. After growing, the guest's partition and filesystem must be grown too."""

DESCRIPTIONS = {
    "list_volumes": "List volumes with their id, size, state and attachments, so a volume can be found by name.",
    "get_volume": "Show one volume: size, state, type, encryption and the servers it is attached to.",
    "plan_volume_extension": (
        "Check an extension against the live volume and quota without changing anything: whether it would be "
        "accepted, why not, and the exact extend_volume call to make."
    ),
    "extend_volume": (
        "Grow a volume to a new total size. Irreversible: capacity can never shrink, and the only way back is a "
        "snapshot restored into a new volume. Check first with plan_volume_extension. Asks the user to confirm "
        "when the client supports it. Afterwards the guest's partition and filesystem must be grown."
    ),
}
"""One line per tool; manifest.json repeats them (a test keeps the two in sync)."""
CONFIRM_DESCRIPTION = (
    "Must be true. Extending is irreversible: capacity cannot be shrunk or rolled back; the only way back "
    "is restoring a snapshot into a new volume. Set it only when the user has asked for this extension."
)
VolumeId = Annotated[
    str,
    Field(
        pattern=VOLUME_ID_PATTERN,
        description="The volume's id, a UUID such as 3f500f00-ed80-4566-a057-e31760226f9a (see list_volumes)",
    ),
]
NewSize = Annotated[
    int,
    Strict(),
    Field(
        ge=MIN_EXTEND_TARGET_GB,
        multiple_of=SIZE_STEP_GB,
        description=f"The new total size in GB: larger than the current size and a multiple of {SIZE_STEP_GB}",
    ),
]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
EXTEND = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)
MIN_POLL_S = 0.2


def _exactly_true(value: object) -> object:
    """An explicit confirmation is the JSON value `true`, not 1, 1.0 or "true"."""
    if value is not True:
        raise ValueError("confirm must be the boolean true, given only when the user asked for this extension")
    return value


class ExtensionConfirmation(BaseModel):
    """What the human is asked (form elicitation)."""

    confirm: bool = Field(title="Extend the volume", description="Yes, extend it. This cannot be undone.")


class Approval(BaseModel):
    """No question was needed: nothing to confirm, or the confirm flag stands."""


class Check(BaseModel):
    """The live volume and what the guards say about the requested size."""

    volume: Any
    per_volume_quota_gb: int | None
    verdict: Literal["extend", "unchanged"]
    generation: int


def _text_result(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def _size_change(previous: int, new: int) -> str:
    return f"{previous} GB -> {new} GB (+{new - previous} GB)"


def build_server(
    settings: ServerSettings | None = None,
    client_factory: Callable[[], "ScpClient"] = default_client_factory,
) -> MCPServer[Any]:
    """The MCP server with its tools; `extend_volume` is left out entirely in read-only mode."""
    settings = settings or ServerSettings()
    runtime = Runtime(client_factory)
    audit = AuditLog(settings.audit_log)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runtime.aclose()

    mcp: MCPServer[Any] = MCPServer(
        "scp-volume-mcp",
        title="SCP volume extension",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
    )

    def client() -> "ScpClient":
        try:
            return runtime.client()
        except ScpError as exc:
            raise ToolError(explain(exc)) from None

    async def read_volume(volume_id: str) -> Volume:
        try:
            return await client().show_volume(volume_id)
        except ScpError as exc:
            raise ToolError(explain(exc, volume_id)) from None

    # --- read-only tools -------------------------------------------------------------------------

    @mcp.tool(title="List volumes", description=DESCRIPTIONS["list_volumes"], annotations=READ_ONLY)
    async def list_volumes(
        name: Annotated[str | None, Field(description="Only volumes with exactly this name")] = None,
        state: Annotated[
            str | None, Field(description=f"Only volumes in this state, e.g. {', '.join(KNOWN_STATES[:4])}")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=LIST_PAGE_SIZE_MAX, description="At most this many volumes")] = 50,
    ) -> Annotated[CallToolResult, VolumeList]:
        try:
            volumes = await client().list_volumes(name=name, state=state, max_items=limit + 1)
        except ScpError as exc:
            raise ToolError(explain(exc)) from None
        summaries = [VolumeSummary.of(v) for v in volumes[:limit]]
        result = VolumeList(volumes=summaries, returned=len(summaries), truncated=len(volumes) > limit)
        shown = "; ".join(f"{v.name or '-'} {v.id} {v.size_gb} GB {v.state}" for v in summaries[:10])
        more = f"; and {len(summaries) - 10} more" if len(summaries) > 10 else ""
        more += " (more match: raise limit or filter)" if result.truncated else ""
        count = f"{len(summaries)} volume{'s' if len(summaries) != 1 else ''}"
        return _text_result(result, f"{count}: {shown}{more}" if summaries else "No volumes match.")

    @mcp.tool(title="Get volume", description=DESCRIPTIONS["get_volume"], annotations=READ_ONLY)
    async def get_volume(volume_id: VolumeId) -> Annotated[CallToolResult, VolumeSummary]:
        summary = VolumeSummary.of(await read_volume(volume_id))
        return _text_result(summary, f"{summary.label()}: {summary.size_gb} GB, {summary.state}, {summary.where()}.")

    @mcp.tool(title="Plan a volume extension", description=DESCRIPTIONS["plan_volume_extension"], annotations=READ_ONLY)
    async def plan_volume_extension(
        volume_id: VolumeId,
        new_size_gb: Annotated[int, Field(ge=1, description="The new total size in GB you consider")],
    ) -> Annotated[CallToolResult, ExtensionPlan]:
        volume = await read_volume(volume_id)
        quota = await runtime.per_volume_quota_gb()
        assessment = assess_extension(volume, new_size_gb, quota)
        summary = VolumeSummary.of(volume)
        accepted = assessment.verdict == "extend"
        plan = ExtensionPlan(
            volume=summary,
            current_size_gb=volume.size,
            target_size_gb=new_size_gb,
            growth_gb=new_size_gb - volume.size,
            would_be_accepted=accepted,
            outcome_if_called=assessment.verdict,
            reasons=assessment.reasons,
            per_volume_quota_gb=quota,
            call=ExtendCall(arguments={"volume_id": volume.id, "new_size_gb": new_size_gb, "confirm": True})
            if accepted
            else None,
            api_version=client().api.version,
        )
        if accepted:
            text = (
                f"{summary.label()} can grow {_size_change(volume.size, new_size_gb)}; it is {volume.state}, "
                f"{summary.where()}. To do it: extend_volume(volume_id={volume.id!r}, "
                f"new_size_gb={new_size_gb}, confirm=true). It cannot be undone."
            )
        elif assessment.verdict == "unchanged":
            text = f"{summary.label()} already has {new_size_gb} GB: extend_volume would change nothing."
        else:
            text = f"{summary.label()} cannot grow to {new_size_gb} GB: " + "; ".join(assessment.reasons) + "."
        return _text_result(plan, text)

    if settings.read_only:
        return mcp

    # --- extend_volume ---------------------------------------------------------------------------

    def refused(ctx: Context[Any, Any], volume: Volume, new_size_gb: int, message: str) -> ToolError:
        """Audit an attempt refused before anything was sent, and return the error to raise."""
        record_attempt(
            audit,
            ctx,
            volume_id=volume.id,
            previous_size_gb=volume.size,
            requested_size_gb=new_size_gb,
            outcome="refused",
            api_version=client().api.version,
            detail=message,
        )
        return ToolError(message)

    async def check_extension(volume_id: str, new_size_gb: int, ctx: Context[Any, Any]) -> Check:
        """Guards that need the live volume. Raises a ToolError for anything that must not be sent."""
        generation = runtime.generation(volume_id)
        volume = await read_volume(volume_id)
        quota = await runtime.per_volume_quota_gb()
        assessment = assess_extension(volume, new_size_gb, quota)
        if assessment.verdict == "refused":
            raise refused(ctx, volume, new_size_gb, _refusal(volume, assessment))
        return Check(volume=volume, per_volume_quota_gb=quota, verdict=assessment.verdict, generation=generation)

    def can_elicit(ctx: Context[Any, Any]) -> bool:
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        return elicitation is not None and (elicitation.form is not None or elicitation.url is None)

    async def confirmation(
        check: Annotated[Check, Resolve(check_extension)], new_size_gb: int, ctx: Context[Any, Any]
    ) -> Approval | Elicit[ExtensionConfirmation]:
        """Ask the human when the policy wants it and the client can; otherwise the confirm flag stands."""
        if check.verdict == "unchanged":
            return Approval()
        if settings.confirmation == "flag":
            return Approval()
        if can_elicit(ctx):
            summary = VolumeSummary.of(check.volume)
            return Elicit(
                f"Extend volume {summary.label()} from {check.volume.size} GB to {new_size_gb} GB? "
                f"It is {summary.state}, {summary.where()}. This cannot be undone: capacity cannot be shrunk "
                "or rolled back; the only way back is restoring a snapshot into a new volume.",
                ExtensionConfirmation,
            )
        if settings.confirmation == "human":
            raise refused(
                ctx,
                check.volume,
                new_size_gb,
                "This server requires a human to confirm every extension (SCP_CONFIRMATION=human), and this "
                "client cannot ask one (it does not support elicitation). Nothing was sent. Use a client that "
                "supports elicitation, or have the operator set SCP_CONFIRMATION=auto or flag.",
            )
        return Approval()

    @mcp.tool(title="Extend a volume", description=DESCRIPTIONS["extend_volume"], annotations=EXTEND)
    async def extend_volume(
        volume_id: VolumeId,
        new_size_gb: NewSize,
        confirm: Annotated[Literal[True], BeforeValidator(_exactly_true), Field(description=CONFIRM_DESCRIPTION)],
        ctx: Context[Any, Any],
        check: Annotated[Check, Resolve(check_extension)],
        approval: Annotated[ElicitationResult[BaseModel], Resolve(confirmation)],
        wait: Annotated[
            bool, Field(description="Wait until the platform reports the new size, with progress updates")
        ] = False,
        timeout_s: Annotated[
            float, Field(gt=0, le=3600, description="How long to wait, in seconds, when wait is true")
        ] = 300.0,
    ) -> Annotated[CallToolResult, ExtendResult]:
        operation = _Extension(runtime, audit, volume_id, new_size_gb, check, ctx)
        if check.verdict == "unchanged":
            return operation.finish("unchanged", check.volume, confirmed_by=None)
        if not isinstance(approval, AcceptedElicitation):
            outcome: Outcome = "declined" if approval.action == "decline" else "cancelled"
            return operation.finish(outcome, check.volume, confirmed_by=None)
        answer = approval.data
        if isinstance(answer, ExtensionConfirmation) and not answer.confirm:
            return operation.finish("declined", check.volume, confirmed_by=None)
        confirmed_by: Literal["human", "flag"] = "human" if isinstance(answer, ExtensionConfirmation) else "flag"
        return await operation.run(confirmed_by, wait=wait, timeout_s=timeout_s, poll_s=settings.poll_interval_s)

    return mcp


def _refusal(volume: Volume, assessment: Assessment) -> str:
    label = f"{volume.name} ({volume.id})" if volume.name else volume.id
    return f"Not extending {label}: " + "; ".join(assessment.reasons) + ". Nothing was sent."


class _Extension:
    """One extend_volume call after its guards passed: lock, re-check, send once, optionally wait, report."""

    def __init__(
        self,
        runtime: Runtime,
        audit: AuditLog,
        volume_id: str,
        target: int,
        check: Check,
        ctx: Context[Any, Any],
    ) -> None:
        self.runtime, self.audit, self.ctx = runtime, audit, ctx
        self.volume_id, self.target, self.check = volume_id, target, check
        self.previous_size: int = check.volume.size
        self.sent = False
        self.status: int | None = None
        self.request_id: str | None = None
        self.waited_s: float | None = None

    @property
    def scp(self) -> "ScpClient":
        return self.runtime.client()

    async def run(
        self, confirmed_by: Literal["human", "flag"], *, wait: bool, timeout_s: float, poll_s: float
    ) -> CallToolResult:
        try:
            async with self.runtime.volume_lock(self.volume_id):
                volume = await self._fresh_volume(confirmed_by)
                assessment = assess_extension(volume, self.target, self.check.per_volume_quota_gb)
                if assessment.verdict == "unchanged":
                    return self.finish("unchanged", volume, confirmed_by=None)
                if assessment.verdict == "refused":
                    raise ToolError(_refusal(volume, assessment))
                self.previous_size = volume.size
                try:
                    self.audit.check_writable()
                except AuditError as exc:
                    raise ToolError(f"Refusing to extend: {exc} (fail closed). Nothing was sent.") from None
                volume, note = await self._send()
            if wait and not self._settled(volume):
                volume, note = await self._wait(volume, timeout_s, poll_s)
        except ToolError as exc:
            self._record("refused" if not self.sent else "failed", str(exc))
            raise
        outcome: Outcome = "completed" if self._settled(volume) else "accepted"
        return self.finish(outcome, volume, confirmed_by=confirmed_by, note=note)

    async def _fresh_volume(self, confirmed_by: str) -> Volume:
        """The checked volume, re-read when it may be stale: a human took time to answer, or this process
        has sent a resize for it since it was read (a concurrent call)."""
        if confirmed_by == "flag" and self.runtime.generation(self.volume_id) == self.check.generation:
            volume: Volume = self.check.volume
            return volume
        try:
            return await self.scp.show_volume(self.volume_id)
        except ScpError as exc:
            raise ToolError(explain(exc, self.volume_id)) from None

    async def _send(self) -> tuple[Volume, str | None]:
        """Send the PUT; after an ambiguous failure, read back and send again only if provably not applied."""
        for attempt in (1, 2):
            try:
                self.sent = True
                self.runtime.bump_generation(self.volume_id)
                accepted = await self.scp.extend_volume(self.volume_id, self.target)
                self.status, self.request_id = 202, accepted.request_id
                return accepted.volume, None
            except ScpHttpError as exc:
                self.status, self.request_id = exc.status, exc.request_id
                raise ToolError(explain(exc, self.volume_id)) from None
            except ScpResponseError as exc:
                self.status, self.request_id = exc.status, exc.request_id
                volume = await self._read_back(f"SCP accepted the request ({exc.status}) but its answer was unreadable")
                return (
                    volume,
                    f"SCP answered {exc.status} with an unreadable body; the state shown was read back.",
                )
            except ScpTransportError as exc:
                if not exc.sent and attempt == 1:
                    self.sent = False
                    raise ToolError(f"{exc}. Nothing was sent; check SCP_ENDPOINT and the network.") from None
                if not exc.sent:
                    raise ToolError(
                        f"The first resize request was dropped and reading back showed it was not applied; sending it "
                        f"again failed ({exc}). The volume was not resized; try again later."
                    ) from None
                volume = await self._read_back(str(exc))
                if volume.size >= self.target:
                    return volume, f"{exc}; reading the volume back shows the resize was applied."
                if volume.state in FAILED_STATES:
                    raise ToolError(
                        f"{exc}; reading the volume back shows it is {volume.state} at {volume.size} GB. "
                        "Check it in the SCP console before trying again."
                    ) from None
                if volume.state not in SETTLED_STATES:
                    return volume, f"{exc}; reading the volume back shows the resize in progress ({volume.state})."
                if isinstance(exc, ScpTimeoutError):
                    # The platform may still be working on it: a read cannot prove it will not be applied.
                    raise ToolError(
                        f"{exc}. The volume still shows {volume.size} GB, {volume.state}, but the request may still "
                        "be processed; nothing was sent again. Check with get_volume in a minute before retrying."
                    ) from None
                if attempt == 2:
                    break
                logger.warning("%s; the volume shows it was not applied, sending once more", exc)
        raise ToolError(
            f"The connection to SCP dropped twice while resizing {self.volume_id}, and the volume still shows "
            f"{volume.size} GB, {volume.state}: the resize was not applied. Try again later."
        )

    async def _read_back(self, what: str) -> Volume:
        try:
            return await self.scp.show_volume(self.volume_id)
        except ScpError as exc:
            raise ToolError(
                f"{what}; whether the resize to {self.target} GB was applied is unknown, because reading the volume "
                f"back failed too ({exc}). Check it with get_volume before trying again."
            ) from None

    def _settled(self, volume: Volume) -> bool:
        return volume.size >= self.target and volume.state in SETTLED_STATES

    async def _wait(self, volume: Volume, timeout_s: float, poll_s: float) -> tuple[Volume, str | None]:
        started = time.monotonic()
        delay = MIN_POLL_S
        while True:
            elapsed = self.waited_s = time.monotonic() - started
            await self.ctx.report_progress(
                min(elapsed, timeout_s),
                timeout_s,
                f"{volume.state}, {volume.size} GB of {self.target} GB after {elapsed:.1f} s",
            )
            if volume.state in FAILED_STATES:
                raise ToolError(
                    f"The extension of {self.volume_id} failed: the volume is {volume.state} at {volume.size} GB. "
                    "Check it in the SCP console; a snapshot restored into a new volume is the way back."
                )
            remaining = timeout_s - elapsed
            if remaining <= 0:
                return volume, (
                    f"Still {volume.state} at {volume.size} GB after {timeout_s:g} s; the request was accepted and "
                    "the platform is still working. Check later with get_volume."
                )
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 2, max(poll_s, MIN_POLL_S))
            try:
                volume = await self.scp.show_volume(self.volume_id)
            except ScpError as exc:
                return (
                    volume,
                    f"The request was accepted, but reading the volume while waiting failed ({exc}).",
                )
            self.waited_s = time.monotonic() - started
            if self._settled(volume):
                return volume, None

    def finish(
        self,
        outcome: Outcome,
        volume: Volume,
        *,
        confirmed_by: Literal["human", "flag"] | None,
        note: str | None = None,
    ) -> CallToolResult:
        summary = VolumeSummary.of(volume)
        result = ExtendResult(
            outcome=outcome,
            volume_id=self.volume_id,
            name=summary.name,
            previous_size_gb=self.previous_size,
            new_size_gb=self.target,
            observed_size_gb=volume.size,
            state=volume.state,
            volume_type=summary.volume_type,
            encrypted=summary.encrypted,
            attachments=summary.attachments,
            max_iops=summary.max_iops,
            max_throughput=summary.max_throughput,
            api_version=self.scp.api.version,
            confirmed_by=confirmed_by,
            request_sent=self.sent,
            waited_s=round(self.waited_s, 2) if self.waited_s is not None else None,
            note=note,
            next_steps=list(NEXT_STEPS) if outcome in ("completed", "accepted") else [],
        )
        self._record(outcome, note)
        label = summary.label()
        change = _size_change(self.previous_size, self.target)
        lines = {
            "completed": [f"Extended {label}: {change}; it is {volume.state}.", NEXT_STEPS[0], NEXT_STEPS[1]],
            "accepted": [
                f"SCP accepted extending {label}: {change}; it is {volume.state} at {volume.size} GB for now.",
                note or "Call get_volume to follow it; " + NEXT_STEPS[0][0].lower() + NEXT_STEPS[0][1:],
                NEXT_STEPS[1],
            ],
            "unchanged": [f"{label} already has {self.target} GB: nothing was sent."],
            "declined": [f"The user declined extending {label} to {self.target} GB: nothing was sent."],
            "cancelled": [f"Extending {label} to {self.target} GB was cancelled: nothing was sent."],
        }[outcome]
        return _text_result(result, "\n".join(lines))

    def _record(self, outcome: str, detail: str | None) -> None:
        record_attempt(
            self.audit,
            self.ctx,
            volume_id=self.volume_id,
            previous_size_gb=self.previous_size,
            requested_size_gb=self.target,
            outcome=outcome,
            api_version=self.scp.api.version,
            http_status=self.status,
            request_id=self.request_id,
            detail=detail,
        )


def record_attempt(audit: AuditLog, ctx: Context[Any, Any], **fields: Any) -> None:
    """Write one audit line; a failure after the fact is logged loudly (the request was already sent)."""
    try:
        params = ctx.session.client_params
    except ValueError:  # called outside an MCP request (MCPServer.call_tool from Python)
        params = None
    client_name = params.client_info.name if params is not None else None
    try:
        audit.write(AuditRecord(tool="extend_volume", client=client_name, **fields))
    except AuditError as exc:
        logger.error("%s; this extension attempt is not in the audit trail", exc)

"""The live check shared by plan and extend: read the volume and the quota, and judge the requested size with
the guards and any resize this process (or, in team mode, any replica) knows is on its way. No MCP here."""

from __future__ import annotations

from dataclasses import dataclass

from .. import messages, tracing
from ..policy import Policy, Rule
from ..scp import Volume, VolumeQuotaSet
from ..scp_connection import ScpConnection
from ..side_by_side import side_by_side
from .guards import Assessment, PolicyFacts, assess_extension
from .ledger import ResizeLedger


@dataclass(frozen=True)
class QuotaRead:
    """A quota set read with the check: `quota` None when it was not readable."""

    quota: VolumeQuotaSet | None


@dataclass(frozen=True)
class LiveCheck:
    """The live volume, the quota and what the guards say about the requested size."""

    volume_id: str
    """The id asked for (what requests use; the platform's copy in `volume.id` is only shown)."""
    volume: Volume
    per_volume_quota_gb: int | None
    assessment: Assessment
    requested_gb: int
    """The size judged."""
    quota_set: QuotaRead | None = None
    """The whole quota set, when the check read it fresh (a plan, or a snapshot to come); None: not read."""
    policy_facts: PolicyFacts | None = None
    """The team's policy the size was judged by (`SCP_POLICY_FILE`) and the volume's growth it counted."""

    @property
    def policy(self) -> Policy | None:
        """The team's policy (the check under the lock judges by it too); None: no policy file."""
        return self.policy_facts.policy if self.policy_facts is not None else None

    @property
    def policy_rules(self) -> list[str]:
        """The policy's rules that apply to this extension, as labels: the limits it would break, then the
        rule that would send it to a second person."""
        facts, current = self.policy_facts, self.volume.size
        if facts is None:
            return []
        rules = facts.policy.broken_limits(current, self.requested_gb, facts.grown_last_day_gb)
        approval = self.approval_rule
        return [rule.label for rule in [*rules, *([approval] if approval else [])]]

    @property
    def approval_rule(self) -> Rule | None:
        """The policy's rule that sends this extension to a second person; None: it needs none."""
        facts = self.policy_facts
        if facts is None:
            return None
        return facts.policy.approval_rule(
            self.volume.name, self.volume.size, self.requested_gb, facts.grown_last_day_gb
        )

    @property
    def label(self) -> str:
        return messages.volume_label(self.volume.name, self.volume_id)


async def check_volume(
    scp: ScpConnection,
    ledger: ResizeLedger,
    volume_id: str,
    new_size_gb: int,
    *,
    quota_set: bool = False,
    policy: Policy | None = None,
    strict: bool = False,
) -> LiveCheck:
    """Read the volume and the quota side by side and judge the extension (by the team's `policy` too, when
    one is set). With `quota_set`, the whole quota set is read now (it also carries the snapshot count);
    otherwise the per-volume limit may come from the cache, and then only the volume is read. Raises
    `ScpError` when the volume cannot be read. `strict` (under the volume's lock): open attempts a read settles
    are closed in the trail, and a trail that cannot be read raises `AuditError`."""
    attributes = {"scp.volume_id": volume_id, "scp.target_gb": new_size_gb}
    with tracing.span("scp_volume_mcp.check", **attributes) as span:
        read = None
        volume_read = scp.client().show_volume(volume_id)
        if quota_set:
            volume, quota_answer = await side_by_side(volume_read, scp.quota_set())
            read = QuotaRead(quota_answer)
        elif scp.quota_cached:  # no request for the quota: nothing to overlap
            volume = await volume_read
        else:
            volume, _ = await side_by_side(volume_read, scp.per_volume_quota_gb())
        quota = await scp.per_volume_quota_gb()  # from the cache by now
        # After the volume read: the open attempt is judged against what that read shows (and a settled one
        # is closed), so this cannot go beside it. It reads the audit trail, not the network.
        pending = await ledger.blocking_attempt(volume_id, volume, strict=strict)
        facts = await ledger.policy_facts(policy, volume_id, strict=strict)  # the trail, when a limit needs it
        assessment = assess_extension(volume, new_size_gb, quota, pending, facts)
        span.set_attribute("scp.verdict", assessment.verdict)
        return LiveCheck(volume_id, volume, quota, assessment, new_size_gb, read, facts)

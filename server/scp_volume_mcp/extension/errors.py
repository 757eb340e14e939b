"""The one refusal: `Refused`, raised whenever an extension stops before anything was sent (a failure after a
request left is `attempt.Failed`). No MCP here: the MCP adapters turn it into a tool result."""

from __future__ import annotations

from ..models import Refusal


class Refused(Exception):
    """Nothing was sent, and why, as a typed object (`models.Refusal`: the reasons as codes, the sizes)."""

    def __init__(self, message: str, codes: list[str], *, volume_id: str, current_size_gb: int | None,
                 requested_size_gb: int, per_volume_quota_gb: int | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.message = message
        self.refusal = Refusal(
            reasons=codes or ["other"],
            volume_id=volume_id,
            current_size_gb=current_size_gb,
            requested_size_gb=requested_size_gb,
            per_volume_quota_gb=per_volume_quota_gb,
            message=message,
        )

    def with_note(self, note: str) -> Refused:
        """The same refusal with a sentence added (an approval spent by it, say)."""
        r = self.refusal
        return Refused(f"{self.message} {note}", r.reasons, volume_id=r.volume_id, current_size_gb=r.current_size_gb,
                       requested_size_gb=r.requested_size_gb, per_volume_quota_gb=r.per_volume_quota_gb)  # fmt: skip

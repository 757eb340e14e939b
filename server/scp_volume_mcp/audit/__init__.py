"""The audit trail: one `intent` record before a resize leaves and one `outcome` record for every attempt.

- `records`: the record, the trail protocol and how an attempt's records pair up (an intent with no
  outcome reads as "outcome unknown").
- `file_trail`: the JSON-lines file (`SCP_AUDIT_LOG`), fsynced.
- `table_trail`: the team database's append-only table (`SCP_DATABASE_URL`).
- `command`: `scp-volume-mcp audit`, which reads either back.
"""

from .file_trail import FileAuditTrail
from .records import UNKNOWN, AuditError, AuditRecord, AuditTrail, Phase, attempts, new_attempt_id, normalized

__all__ = [
    "UNKNOWN",
    "AuditError",
    "AuditRecord",
    "AuditTrail",
    "FileAuditTrail",
    "Phase",
    "attempts",
    "new_attempt_id",
    "normalized",
]

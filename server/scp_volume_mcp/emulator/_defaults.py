"""The emulator's published defaults: its demo keys, its port and its largest volume. A module of constants,
so that the command line can show them without loading the emulator."""

from __future__ import annotations

from typing import Final

from ..scp._platform import MAX_VOLUME_SIZE_GB

EMULATOR_ACCESS_KEY: Final = "emulator-access-key"
EMULATOR_SECRET_KEY: Final = "emulator-secret-key"  # noqa: S105 - the emulator's published demo key
DEFAULT_PORT: Final = 8765

DEFAULT_MAX_VOLUME_GB: Final = MAX_VOLUME_SIZE_GB
"""Virtual Server data volumes reach about 12 TB (12,288 GB); 16,384 GB is the bare-metal limit."""

REHEARSAL_TRAIL: Final = (
    "Keep rehearsals apart from real work: run the server you rehearse with SCP_AUDIT_LOG set to a rehearsal file "
    "of its own, not your real audit trail."
)
REHEARSAL_CLOSE: Final = (
    "A reset restores the emulator's volumes and settings, not that trail: an attempt a rehearsal left open there "
    "(a resize that may still be under way) blocks its volume for up to an hour. List the attempts with "
    "`SCP_AUDIT_LOG=<the rehearsal file> scp-volume-mcp audit` and close one with "
    '`SCP_AUDIT_LOG=<the rehearsal file> scp-volume-mcp audit --close ATTEMPT_ID --reason "emulator reset"`.'
)
"""What the emulator says at start and answers a reset with: how rehearsal attempts are kept apart from real ones,
and how one left open is closed (`audit.open_attempts.PENDING_TTL_S` is the hour)."""

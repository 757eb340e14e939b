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

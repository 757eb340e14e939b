"""The embedded SCP emulator: a real HTTP server on loopback that behaves like the volume API.

It verifies signatures, honours API versions 1.0 to 1.3, applies the extension rules, moves
volumes through `extending`, injects faults on demand and keeps a journal of what it received.
"""

from ._app import EmulatorApp
from ._defaults import (
    DEFAULT_MAX_VOLUME_GB,
    DEFAULT_PORT,
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    REHEARSAL_CLOSE,
    REHEARSAL_TRAIL,
)
from ._faults import Fault
from ._history import AcceptedResize
from ._journal import JournalEntry
from ._seed import default_snapshots, default_volumes, generated_volumes, load_volumes
from ._server import EmulatorServer, serve_forever
from ._state import EmulatorSettings, EmulatorState

__all__ = [
    "DEFAULT_MAX_VOLUME_GB",
    "DEFAULT_PORT",
    "EMULATOR_ACCESS_KEY",
    "EMULATOR_SECRET_KEY",
    "REHEARSAL_CLOSE",
    "REHEARSAL_TRAIL",
    "AcceptedResize",
    "EmulatorApp",
    "EmulatorServer",
    "EmulatorSettings",
    "EmulatorState",
    "Fault",
    "JournalEntry",
    "default_snapshots",
    "default_volumes",
    "generated_volumes",
    "load_volumes",
    "serve_forever",
]

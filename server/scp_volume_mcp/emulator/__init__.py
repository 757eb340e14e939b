"""The embedded SCP emulator: a real HTTP server on loopback that behaves like the volume API.

It verifies signatures, honours API versions 1.0 to 1.3, applies the extension rules, moves
volumes through `extending`, injects faults on demand and keeps a journal of what it received.
"""

from ._app import EmulatorApp
from ._server import EmulatorServer, serve_forever
from ._state import (
    EmulatorSettings,
    EmulatorState,
    Fault,
    JournalEntry,
    default_volumes,
    example_volume,
    load_volumes,
)

__all__ = [
    "EmulatorApp",
    "EmulatorServer",
    "EmulatorSettings",
    "EmulatorState",
    "Fault",
    "JournalEntry",
    "default_volumes",
    "example_volume",
    "load_volumes",
    "serve_forever",
]

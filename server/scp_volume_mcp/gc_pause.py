"""The cyclic garbage collector paused while the command starts.

Start-up is imports (the SDK, pydantic, ours) and building the tools' models and schemas: hundreds of thousands of
objects that live as long as the process. Each allocation burst makes the collector scan them again, generation
after generation, for nothing; on this project's benchmark that scanning was about a tenth of the time to answer
`tools/list`. So `cli.main` pauses the collector first, and `serve` resumes it once the server is built, after
`gc.freeze()` has moved what start-up made into the permanent generation (CPython's advice for long-lived objects
made at start: later collections no longer walk them). Reference counting frees memory as usual meanwhile; only
cycles wait, for a second at most. Every other command resumes it as soon as its arguments are parsed.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop automatic collection, unless someone else already has (then leave theirs alone)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume(*, freeze: bool = False) -> None:
    """Undo `pause` (nothing if it did not pause); `freeze` first moves every object alive now into the permanent
    generation: for a server whose start-up objects live as long as it does."""
    global _paused
    if not _paused:
        return
    if freeze:
        gc.freeze()
    _paused = False
    gc.enable()

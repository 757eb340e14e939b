"""The cyclic garbage collector paused while the command starts.

Start-up is imports (the SDK, pydantic, ours) and building the tools' models and schemas: hundreds of thousands of
objects that live as long as the process. Each allocation burst makes the collector scan them again, generation
after generation, for nothing; on this project's benchmark that scanning was about a tenth of the time to answer
`tools/list`. So `cli.main` pauses the collector first, and `serve` resumes it once the server is built, after
`gc.freeze()` has moved everything alive then into the permanent generation, which later collections (and the one
at exit) no longer walk: per call, a full collection has the request's objects to look at, not the SDK's.

The price, bounded and paid once: cycles made during start-up are frozen with the rest instead of collected (about
0.4 MB measured: argument parsers, schema generators, temporary classes). A `gc.collect()` before the freeze would
reclaim them for about as much time as the pause saves. Reference counting frees everything else as usual. Every
other command resumes the collector as soon as its arguments are parsed.
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

"""Start-up waits for the tests and tools that start servers: a budget that grows with the machine's load, and a
failure that says how long it waited and what the server itself printed.

A server that starts in half a second on an idle machine can take many seconds when the cores are shared (the
suite's own workers, other jobs): a fixed limit is then a coin toss. Every start-up wait takes its limit from
`budget(base_s)`:

- `base_s`, what an idle machine needs with a wide margin;
- times `SCP_TEST_TIME_FACTOR` (default 1), for a machine known to be slow;
- times the load per core (the 1-minute load average over the core count) when that is above 1. It is read
  again when the limit runs out, so a wait that began before the load rose is given the larger budget too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

FACTOR_VARIABLE = "SCP_TEST_TIME_FACTOR"


class DidNotListen(RuntimeError):
    """A server stopped before it listened, or did not listen within its budget."""


def load_per_core() -> float:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return 0.0


def budget(base_s: float) -> float:
    """`base_s` scaled by `SCP_TEST_TIME_FACTOR` and by the load per core above 1."""
    try:
        factor = float(os.environ.get(FACTOR_VARIABLE, "") or 1)
    except ValueError:
        raise ValueError(f"{FACTOR_VARIABLE} must be a number, not {os.environ[FACTOR_VARIABLE]!r}") from None
    return base_s * max(factor, 0.1) * max(load_per_core(), 1.0)


def _listens(port: int, host: str) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_listening(
    port: int,
    process: subprocess.Popen[Any],
    output: Callable[[], str] = lambda: "",
    *,
    what: str = "the server",
    base_s: float = 20,
    host: str = "127.0.0.1",
) -> None:
    """Return once something accepts connections on `host:port`. Raise `DidNotListen`, with `output()` (what the
    process printed, its stderr at least), when `process` exits first or the budget runs out."""
    started = time.monotonic()
    limit = budget(base_s)
    while not _listens(port, host):
        if process.poll() is not None:
            raise DidNotListen(
                f"{what} exited ({process.returncode}) before it listened on {port}; it printed:\n{output()}"
            )
        waited = time.monotonic() - started
        if waited > limit:
            limit = max(limit, budget(base_s))  # the load may have risen since the wait began
            if waited > limit:
                raise DidNotListen(
                    f"{what} did not listen within {limit:.0f} s on port {port} (base {base_s:g} s; load per core "
                    f"{load_per_core():.1f}; {FACTOR_VARIABLE} raises it); it printed:\n{output()}"
                )
        time.sleep(0.05)  # a poll, not a wait for something to happen on its own

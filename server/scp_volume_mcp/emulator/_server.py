"""Run the emulator on loopback: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

import uvicorn

from ..scp import is_loopback_host, url_host
from ._app import EmulatorApp
from ._state import EmulatorState


class _DroppedResponseFilter(logging.Filter):
    """Injected dropped connections are intended; do not report them as server errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def _config(app: EmulatorApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    if not is_loopback_host(host):
        raise ValueError(f"the emulator listens on loopback only, not {host!r}")
    logging.getLogger("uvicorn.error").addFilter(_DroppedResponseFilter())
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        log_config=None,
        date_header=False,  # the app sends its own, from its own (possibly offset) clock
    )


class EmulatorServer:
    """A real HTTP emulator of the SCP volume API on a loopback port, served from a thread.

    >>> with EmulatorServer() as emulator:
    ...     emulator.url, emulator.state.journal
    """

    def __init__(self, state: EmulatorState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state or EmulatorState()
        self._server = uvicorn.Server(_config(EmulatorApp(self.state), host, port, "warning"))
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Self:
        self._thread = threading.Thread(target=self._server.run, name="scp-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the SCP emulator did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_forever(state: EmulatorState, host: str, port: int) -> None:
    """Serve in the foreground until interrupted (the `emulator` command)."""
    uvicorn.Server(_config(EmulatorApp(state), host, port, "info")).run()

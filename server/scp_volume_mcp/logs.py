"""Logging to stderr only (on stdio, stdout belongs to the protocol), as text or JSON lines."""

from __future__ import annotations

import json
import logging
import sys
from typing import Literal

LogFormat = Literal["text", "json"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


START_LOGGER = "scp_volume_mcp.start"


def configure_logging(level: str = "WARNING", fmt: LogFormat = "text") -> None:
    """Send every log record, ours and the libraries', to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request line at INFO, including full URLs; keep that for DEBUG only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # What a server says once at start (where its audit trail is) shows at the default level too.
    logging.getLogger(START_LOGGER).setLevel(min(logging.INFO, root.level))

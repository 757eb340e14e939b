"""Entry point of the MCPB bundle (`manifest.json` runs `python3 server/main.py serve`).

The bundle carries its dependencies in `server/lib` and this package in `server/`; neither is
installed into site-packages. With no arguments it serves MCP over stdio.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE / "lib", HERE):
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

# A client may pass an optional setting the user left empty as an unreplaced `${user_config.x}`.
for name, value in list(os.environ.items()):
    if name.startswith("SCP_") and value.startswith("${"):
        del os.environ[name]

from scp_volume_mcp.cli import main  # noqa: E402 - the paths above must come first

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["serve"]))

"""Entry point of the MCPB bundles (`tools/build_bundle.py` builds both).

The default bundle (manifest 0.4, server type `uv`) holds this file, the package in `server/scp_volume_mcp` and a
`pyproject.toml` naming the dependencies; the host runs `uv run --directory <bundle> server/main.py serve`, so uv
installs the dependencies into an environment of its own and this file puts `server/` on the path. The vendored
bundle (manifest 0.3, server type `python`) runs `python3 server/main.py serve` and carries its dependencies in
`server/lib`, which this file puts on the path first. Nothing is installed into site-packages. With no
arguments it serves MCP over stdio.
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

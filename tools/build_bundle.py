"""Build the one-click MCPB bundle: dist/scp-volume-mcp-<version>.mcpb.

    python tools/build_bundle.py [--out dist]

Stages manifest.json, server/main.py and server/scp_volume_mcp in build/bundle, vendors the runtime
dependencies into build/bundle/server/lib for this platform and Python (compiled wheels such as
pydantic-core are platform-specific, so the staged manifest names this platform and Python), and packs
it with the official `mcpb pack` (Node.js's npx is needed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCPB = "@anthropic-ai/mcpb@2.1.2"


def _runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def stage(stage_dir: Path) -> dict[str, object]:
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    (stage_dir / "server").mkdir(parents=True)
    shutil.copy2(ROOT / "server" / "main.py", stage_dir / "server" / "main.py")
    shutil.copytree(
        ROOT / "server" / "scp_volume_mcp",
        stage_dir / "server" / "scp_volume_mcp",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    shutil.copy2(ROOT / "README.md", stage_dir / "README.md")
    manifest = json.loads((ROOT / "manifest.json").read_text())
    major, minor = sys.version_info[:2]
    manifest["compatibility"] = {
        "platforms": [sys.platform],
        "runtimes": {"python": f">={major}.{minor},<{major}.{minor + 1}"},
    }
    (stage_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"vendoring {', '.join(_runtime_requirements())} into server/lib", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
         "--target", str(stage_dir / "server" / "lib"), *_runtime_requirements()],
        check=True,
    )  # fmt: skip
    for cache in (stage_dir / "server" / "lib").rglob("__pycache__"):
        shutil.rmtree(cache)
    return manifest


def build(out_dir: Path) -> Path:
    stage_dir = ROOT / "build" / "bundle"
    manifest = stage(stage_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = out_dir / f"scp-volume-mcp-{manifest['version']}.mcpb"
    npx = shutil.which("npx")
    if npx is None:
        raise SystemExit("build_bundle: Node.js's npx is needed for `mcpb pack`; install Node.js and retry.")
    subprocess.run([npx, "-y", MCPB, "validate", str(stage_dir / "manifest.json")], check=True)
    subprocess.run([npx, "-y", MCPB, "pack", str(stage_dir), str(bundle)], check=True)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args()
    print(build(args.out.resolve()))


if __name__ == "__main__":
    main()

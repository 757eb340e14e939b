from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import scp_volume_mcp
import scp_volume_mcp.emulator
import scp_volume_mcp.scp


def test_scp_public_surface_is_pinned() -> None:
    assert sorted(scp_volume_mcp.scp.__all__) == [
        "API_SERVICE", "API_VERSIONS", "ApiVersionStatus", "CLIENT_TYPE", "CURRENT_API_VERSION",
        "EXAMPLE_VOLUME_ID", "EXTENDABLE_STATES", "EXTENDING_STATE", "EXTENDING_STATES",
        "FAILED_STATES", "KNOWN_STATES", "LIST_PAGE_SIZE_MAX", "MAX_VOLUME_SIZE_GB", "MIN_EXTEND_TARGET_GB",
        "MIN_VOLUME_SIZE_GB",
        "Probe", "ResizeAccepted", "SETTLED_STATES", "SIZE_STEP_GB", "SNAPSHOT_AVAILABLE",
        "SNAPSHOT_FAILED_STATUSES", "SNAPSHOT_NAME_MAX", "SNAPSHOT_NAME_PATTERN", "ScpAuth", "ScpBadRequest",
        "ScpClient", "ScpConfig", "ScpConfigError", "ScpConflict", "ScpDiscoveryError", "ScpError",
        "ScpForbidden", "ScpHttpError", "ScpInputError", "ScpNotFound", "ScpRateLimited", "ScpResponseError",
        "ScpServerError", "ScpTimeoutError", "ScpTransportError", "ScpUnauthorized", "ScpVersionRejected",
        "Snapshot", "StateSet", "VERSIONS_WITH_PERFORMANCE", "VOLUME_ID_PATTERN", "Volume", "VolumeQuotaSet",
        "VolumeServer", "VolumeShowResponse", "VolumeShowResponseV1Dot2", "check_api_version", "classify_state",
        "config_dir", "credentials_exposure", "is_loopback_host", "is_volume_id", "known_spelling",
        "load_config", "signature",
        "state_key", "url_host",
    ]  # fmt: skip


@pytest.mark.parametrize("package", [scp_volume_mcp.scp, scp_volume_mcp.emulator])
def test_every_exported_name_resolves_in_its_own_package(package: ModuleType) -> None:
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []


def test_no_generic_top_level_module_is_installed(tmp_path: Path) -> None:
    probe = "import importlib.util as u; print([n for n in ('main', 'server', 'tools', 'tests') if u.find_spec(n)])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_sdist_and_wheel_build_check_and_install_into_a_clean_venv(tmp_path: Path) -> None:
    """What a release does (CONTRIBUTING's checklist): `python -m build`, `twine check`, and the wheel installed
    into a fresh virtual environment, where the command runs."""
    root = Path(__file__).resolve().parents[2]
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(root)], capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], capture_output=True, text=True
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    version = subprocess.run([str(venv / "bin" / "scp-volume-mcp"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"scp-volume-mcp {scp_volume_mcp.__version__}"
    env = {"PATH": "/usr/bin:/bin", "SCP_CONFIG_DIR": str(tmp_path), "HOME": str(tmp_path)}
    demo = subprocess.run(
        [str(venv / "bin" / "scp-volume-mcp"), "demo"], capture_output=True, text=True, timeout=120, env=env
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "everything behaved" in demo.stdout

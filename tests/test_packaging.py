from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import scp_volume_mcp.emulator
import scp_volume_mcp.scp


def test_scp_public_surface_is_pinned() -> None:
    assert sorted(scp_volume_mcp.scp.__all__) == [
        "ApiVersionStatus", "ExtendAccepted", "QuotaSetObject", "ScpAuth", "ScpBadRequest", "ScpClient", "ScpConfig",
        "ScpConfigError", "ScpConflict", "ScpError", "ScpForbidden", "ScpHttpError", "ScpInputError",
        "ScpNotFound", "ScpRateLimited", "ScpResponseError", "ScpServerError", "ScpTimeoutError",
        "ScpTransportError", "ScpUnauthorized", "Volume", "VolumeQuotaSet", "VolumeServer",
        "VolumeShowResponse", "VolumeShowResponseV1Dot2", "check_api_version", "check_endpoint",
        "error_from_response", "is_loopback_host", "load_config", "signature", "volume_model", "volume_path",
    ]  # fmt: skip
    for name in scp_volume_mcp.scp.__all__ + scp_volume_mcp.emulator.__all__:
        assert getattr(scp_volume_mcp.scp, name, None) or getattr(scp_volume_mcp.emulator, name, None)


def test_no_generic_top_level_module_is_installed(tmp_path: Path) -> None:
    probe = "import importlib.util as u; print([n for n in ('main', 'server', 'tools', 'tests') if u.find_spec(n)])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_stdio_start_up_does_not_import_the_emulator_demo_doctor_or_httpx(tmp_path: Path) -> None:
    deferred = [
        "scp_volume_mcp.emulator",
        "scp_volume_mcp.demo",
        "scp_volume_mcp.doctor",
        "scp_volume_mcp.serve",
        "httpx",
    ]
    probe = (
        "import sys; import scp_volume_mcp.cli, scp_volume_mcp.server; "
        f"print(sorted(m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in {deferred!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

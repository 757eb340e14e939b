"""What the emulator serves until told otherwise: the API page's example volume, one volume in each
interesting state, a week-old snapshot of the example, and volumes loaded from a JSON file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..scp import EXAMPLE_VOLUME_ID, is_volume_id
from ..untrusted_text import clean


def example_volume() -> dict[str, Any]:
    """The volume of the Extend Volume API page (before its example extension to 104 GB)."""
    return {
        "bootable": False,
        "created_at": "2024-01-15T10:30:00.000Z",
        "encrypted": True,
        "id": EXAMPLE_VOLUME_ID,
        "max_iops": 10000,
        "max_throughput": 500,
        "modified_at": "2025-07-26T12:00:00Z",
        "multiattach": False,
        "name": "volume01",
        "servers": [
            {
                "attached_at": "2024-01-15T10:30:00.000Z",
                "device": "/dev/vda",
                "id": "2a9be312-5d4b-4bc8-b2ae-35100fa9241f",
            }
        ],
        "size": 100,
        "snapshot_id": "cceed636-1f1e-4bb0-b85c-4e5b9e0bf790",
        "state": "in-use",
        "user_id": "570907805e5447be84b618450ef52o0t",
        "volume_image_metadata": {
            "checksum": "7538e0fcb56e0e272cfd89eb384d6613",
            "container_format": "bare",
            "disk_format": "qcow2",
            "image_id": "70a599e0-31e7-49b7-b260-868f441e862b",
            "image_name": "imagename",
            "min_disk": 100,
            "min_ram": 0,
            "os_distro": "alma",
            "scp_image_type": "custom",
            "scp_k8s_version": "v1.28.7",
            "scp_original_image_type": "standard",
            "signature_verified": False,
            "size": 2429747200,
        },
        "volume_type": "SSD",
        "volume_type_id": "c643ac35-3aec-43e6-b97a-3d6f666c5207",
    }


def _volume(volume_id: str, name: str, size: int, state: str, *, server: str | None = None) -> dict[str, Any]:
    servers = [{"attached_at": "2025-03-02T08:00:00.000Z", "device": "/dev/vdb", "id": server}] if server else []
    return {
        "bootable": False,
        "created_at": "2025-03-01T09:00:00.000Z",
        "encrypted": False,
        "id": volume_id,
        "max_iops": 3000,
        "max_throughput": 125,
        "modified_at": "2025-03-02T08:00:00.000Z",
        "multiattach": False,
        "name": name,
        "servers": servers,
        "size": size,
        "snapshot_id": None,
        "state": state,
        "user_id": "570907805e5447be84b618450ef52o0t",
        "volume_type": "HDD" if size >= 500 else "SSD",
        "volume_type_id": "d1a7c0c4-4a1c-4f0e-9a0e-52d5a8f2b001",
    }


def default_volumes() -> list[dict[str, Any]]:
    """The seeded volumes: the API page's example and one in each interesting state."""
    return [
        example_volume(),
        _volume("6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01", "data-available", 64, "available"),
        _volume(
            "9c3e5d7f-2b4a-4c6e-8f10-3a5b7c9d1e02",
            "db-in-use",
            200,
            "in-use",
            server="7d2e4f6a-8b0c-4d1e-9f3a-5b7c9d1e3f04",
        ),
        _volume("2f4a6c8e-1b3d-4e5f-a7b9-c1d3e5f7a903", "busy-extending", 48, "extending"),
        _volume("4a6c8e0f-3d5b-4f7a-b9c1-d3e5f7a9b104", "broken-error", 32, "error"),
        _volume("8e0f2a4c-5b7d-4a9c-b1d3-e5f7a9b1c305", "new-creating", 16, "creating"),
        _volume("a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c06", "archive", 1000, "available"),
    ]


GENERATED_STATES = ("available", "in-use", "available", "available", "error", "extending")
"""The states generated volumes cycle through: mostly available, some attached, a few that cannot grow."""


def generated_volumes(count: int) -> list[dict[str, Any]]:
    """`count` volumes as a large account holds them (`gen-00001`, ...: ids, sizes and states vary), for
    rehearsing lists at scale (`scp-volume-mcp emulator --generated-volumes 10000`)."""
    volumes = []
    for n in range(1, count + 1):
        state = GENERATED_STATES[n % len(GENERATED_STATES)]
        server = f"00000000-0000-4000-9000-{n:012d}" if state == "in-use" else None
        volume_id = f"00000000-0000-4000-8000-{n:012d}"
        volumes.append(_volume(volume_id, f"gen-{n:05d}", 16 + 8 * (n % 64), state, server=server))
    return volumes


def default_snapshots(now: float | None = None) -> list[dict[str, Any]]:
    """The seeded snapshots: the example volume has one, three days old; the other volumes have none."""
    created = iso_time((time.time() if now is None else now) - 3 * 86400)
    return [
        {
            "id": "5d0c1b7e-8f2a-4c3d-9e4f-6a7b8c9d0e11",
            "volume_id": EXAMPLE_VOLUME_ID,
            "size": 100,
            "status": "available",
            "name": "volume01-weekly",
            "description": "weekly snapshot",
            "created_at": created,
            "updated_at": created,
            "user_id": "570907805e5447be84b618450ef52o0t",
            "metadata": {},
        }
    ]


def iso_time(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s % 1 * 1000):03d}Z"


VOLUME_KEYS = frozenset(example_volume()) | frozenset(_volume("i", "n", 8, "available"))
"""The keys a volume in a `--volumes` file may have: those of the platform's volume body."""
_REQUIRED = ("id", "size", "state")


def load_volumes(path: str | Path) -> list[dict[str, Any]]:
    """Volumes from a JSON file: a list of volume bodies, or `{"volumes": [...]}`. Each needs `id` (a UUID), `size`
    (whole GB) and `state`; other keys are those of the platform's volume body (`name`, `servers`,
    `volume_type`, ...), and an unknown key is refused, not dropped. Raises `ValueError` with one line naming
    the file and the entry."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    items = data.get("volumes") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of volumes or an object with a `volumes` list")
    return [_checked(path, index, item) for index, item in enumerate(items)]


def _checked(path: str | Path, index: int, item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{path}: volume #{index}: not an object")
    label = f"volume #{index} ({clean(str(item['id']), 40).text})" if "id" in item else f"volume #{index}"
    problem = next((f"missing {key}" for key in _REQUIRED if key not in item), None)
    unknown = sorted(set(item) - VOLUME_KEYS)
    if problem is None and unknown:
        problem = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(k[:40] for k in unknown[:5])}"
    if problem is None and not isinstance(item["id"], str):
        problem = "id must be text"
    if problem is None and (not isinstance(item["size"], int) or isinstance(item["size"], bool) or item["size"] < 1):
        problem = f"size must be a whole number of GB, not {json.dumps(item['size'])[:40]}"
    if problem is None and not isinstance(item["state"], str):
        problem = "state must be text, such as available or in-use"
    if problem is None and not is_volume_id(item["id"]):
        problem = f"id must be a UUID such as {EXAMPLE_VOLUME_ID} (the server's tools take no other volume id)"
    if problem is not None:
        raise ValueError(f"{path}: {label}: {problem} (keys: {', '.join(_REQUIRED)}, and those of a volume body)")
    return dict(item)

"""Typed SCP response bodies, tolerant of fields the API may add.

Two volume shapes exist: `VolumeShowResponse` (API 1.0 and 1.1) and `VolumeShowResponseV1Dot2`
(1.2 and 1.3, adding `max_iops` and `max_throughput`). Only `id`, `size` and `state` are required:
the product must keep working when the platform leaves out a field it documents as required.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._platform import VERSIONS_WITH_PERFORMANCE, is_newer_than_known


class _Body(BaseModel):
    # defer_build: a body's validator is built when the first answer is read, not when the server starts
    # (about 4 ms of start-up for these models; issue #20 measures it).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class VolumeServer(_Body):
    id: str
    device: str | None = None
    attached_at: str | None = None


class VolumeImageMetadata(_Body):
    image_id: str | None = None
    image_name: str | None = None
    os_distro: str | None = None
    min_disk: int | None = None


class VolumeShowResponse(_Body):
    """A volume as API versions 1.0 and 1.1 describe it."""

    id: str
    size: int = Field(description="GiB")
    state: str
    name: str | None = None
    volume_type: str | None = None
    volume_type_id: str | None = None
    encrypted: bool | None = None
    bootable: bool | None = None
    multiattach: bool | None = None
    servers: list[VolumeServer] = Field(default_factory=list)
    snapshot_id: str | None = None
    created_at: str | None = None
    modified_at: str | None = None
    user_id: str | None = None
    volume_image_metadata: VolumeImageMetadata | None = None


class VolumeShowResponseV1Dot2(VolumeShowResponse):
    """A volume as API versions 1.2 and 1.3 describe it."""

    max_iops: int | None = None
    max_throughput: int | None = None


Volume = VolumeShowResponse
"""A volume in any version's shape (`VolumeShowResponseV1Dot2` is a subclass)."""


def volume_model(api_version: str) -> type[VolumeShowResponse]:
    """The response model a given API version answers with."""
    newer = is_newer_than_known(api_version)  # read tolerantly in the richest known shape
    return VolumeShowResponseV1Dot2 if api_version in VERSIONS_WITH_PERFORMANCE or newer else VolumeShowResponse


def stated_limit(value: object) -> int | None:
    """A quota limit the platform stated: a positive integer (or its decimal text). Anything else (`-1`, `0`,
    `""`, `null`, text) states no limit: the platform decides (Cinder's `-1` means unlimited)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 12:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


class QuotaSetObject(_Body):
    limit: Any = None
    """As the platform answered it: a number, `-1`, `""`, null or missing. Read it through `stated_limit`."""
    in_use: Any = 0
    reserved: Any = 0

    @property
    def stated_limit(self) -> int | None:
        """The limit as a positive integer, or None when the platform stated none."""
        return stated_limit(self.limit)


class VolumeQuotaSet(_Body):
    id: str | None = None
    per_volume_size: QuotaSetObject | None = None
    volumes: QuotaSetObject | None = None
    snapshots: QuotaSetObject | None = None
    usages: QuotaSetObject | None = None


# --- Snapshots (Virtual Server API 1.3: createsnapshot, listsnapshot) -------------------------------

SNAPSHOT_API_VERSION = "1.3"
"""The version whose pages document the snapshot routes; snapshot calls always declare it."""
SNAPSHOT_NAME_PATTERN = r"^[a-zA-Z0-9-_ ]+$"
"""The platform's rule for a snapshot name (`CreateSnapshotRequest.name`)."""
SNAPSHOT_NAME_MAX = 255
SNAPSHOT_AVAILABLE = "available"
SNAPSHOT_FAILED_STATUSES = frozenset({"error", "error_deleting"})


class Snapshot(_Body):
    """A volume snapshot: "a full copy of the volume". Snapshots have `status` (volumes have `state`)."""

    id: str
    volume_id: str | None = None
    size: int | None = Field(default=None, description="GiB")
    status: str = "unknown"
    name: str | None = None
    description: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

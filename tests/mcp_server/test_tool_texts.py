"""What the model reads: argument errors with the plan's help, next steps naming the volume's device, get_volume's
type/encryption/performance, an unknown state filter; and --help listing each command once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mcp.types import Tool

from scp_volume_mcp.emulator import EmulatorServer
from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID, KNOWN_STATES
from scp_volume_mcp.settings import ServerSettings

from ..mcp_helpers import connect, text

pytestmark = pytest.mark.anyio
DB_IN_USE = "9c3e5d7f-2b4a-4c6e-8f10-3a5b7c9d1e02"  # attached at /dev/vdb
AVAILABLE = "6b1f2a8e-0c8d-4d3e-9a57-1f0c2b7d9e01"  # not attached
FLAG = ServerSettings(confirmation="flag", poll_interval_s=0.05)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 20, "confirm": True},
         "new_size_gb 20: sizes must be multiples of 8 GB: try 16 or 24 GB"),
        ({"volume_id": "volume01", "new_size_gb": 104, "confirm": True},
         "not a name: find the id with list_volumes(name=...)"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 8, "confirm": True},
         "new_size_gb 8 is too small: it is the new total size, at least 16 GB"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": "104", "confirm": True},
         "new_size_gb is a whole number of GB, given as a JSON integer such as 104"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104},
         "confirm is required: confirm must be the boolean true"),
        ({"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 104, "confirm": False},
         "confirm must be the boolean true, given only when the user asked for this extension"),
    ],
)  # fmt: skip
async def test_argument_errors_give_the_plans_help_not_a_validation_dump(
    emulator: EmulatorServer, arguments: dict[str, object], expected: str
) -> None:
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", arguments)
    assert result.is_error
    words = text(result)
    assert words.startswith("Invalid arguments for extend_volume: ")
    assert expected in words
    assert words.endswith("Nothing was sent.")
    for dump in ("validation error", "extend_volumeArguments", "errors.pydantic.dev", "type="):
        assert dump not in words
    assert emulator.state.requests("PUT") == []


async def test_the_published_schema_keeps_its_constraints(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        tool: Tool = session.tools["extend_volume"]
        get = await session.call("get_volume", {"volume_id": "x"})
    properties = tool.input_schema["properties"]
    assert (properties["new_size_gb"]["minimum"], properties["new_size_gb"]["multipleOf"]) == (16, 8)
    assert properties["volume_id"]["pattern"].startswith("^[0-9a-fA-F]{8}-")
    assert properties["confirm"]["const"] is True
    assert "list_volumes(name=...)" in text(get)


async def test_next_steps_name_the_device_of_the_extended_volume(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        plan = await session.call("plan_volume_extension", {"volume_id": DB_IN_USE, "new_size_gb": 208})
        done = await session.call("extend_volume", {"volume_id": DB_IN_USE, "new_size_gb": 208, "confirm": True})
        loose = await session.call("extend_volume", {"volume_id": AVAILABLE, "new_size_gb": 72, "confirm": True})
        same = await session.call("extend_volume", {"volume_id": AVAILABLE, "new_size_gb": 72, "confirm": True})
    assert plan.structured_content is not None
    assert "`growpart /dev/vdb 1`" in plan.structured_content["next_steps"][0]
    assert done.structured_content is not None
    assert done.structured_content["outcome"] == "completed"
    assert "`growpart /dev/vdb 1`" in done.structured_content["next_steps"][0]
    assert "`growpart /dev/vdb 1`" in text(done)
    assert "/dev/vda" not in text(done)
    assert loose.structured_content is not None
    assert "`growpart <device> <partition>`" in loose.structured_content["next_steps"][0]
    assert same.structured_content is not None
    assert (same.structured_content["outcome"], same.structured_content["next_steps"]) == ("unchanged", [])


async def test_an_accepted_extension_says_to_wait_before_growing_the_partition(emulator: EmulatorServer) -> None:
    emulator.state.settings.extend_seconds = 30
    async with connect(emulator, settings=FLAG) as session:
        result = await session.call("extend_volume", {"volume_id": DB_IN_USE, "new_size_gb": 208, "confirm": True})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "accepted"
    [step, _] = result.structured_content["next_steps"]
    assert step.startswith("Wait until get_volume shows the new size")
    assert step.index("Wait") < step.index("growpart /dev/vdb 1")
    second_line = text(result).splitlines()[1]
    assert second_line.startswith("Wait until get_volume shows the new size")


async def test_get_volume_text_has_type_encryption_and_performance(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        example = text(await session.call("get_volume", {"volume_id": EXAMPLE_VOLUME_ID}))
        other = text(await session.call("get_volume", {"volume_id": AVAILABLE}))
    assert example == (
        '"volume01" (3f500f00-ed80-4566-a057-e31760226f9a): 100 GB, in-use, type "SSD", encrypted, up to 10000 IOPS '
        "and 500 MB/s, attached to 2a9be312-5d4b-4bc8-b2ae-35100fa9241f at /dev/vda."
    )
    assert 'type "SSD", not encrypted, up to 3000 IOPS and 125 MB/s, not attached.' in other


async def test_an_unknown_state_filter_names_the_known_states(emulator: EmulatorServer) -> None:
    async with connect(emulator, settings=FLAG) as session:
        unknown = text(await session.call("list_volumes", {"state": "attached"}))
        known = text(await session.call("list_volumes", {"state": "maintenance"}))
    assert unknown.startswith('No volumes match: "attached" is not a volume state known here. Known states: ')
    assert all(state in unknown for state in KNOWN_STATES)
    assert known == "No volumes match."


def test_help_lists_each_command_once() -> None:
    done = subprocess.run([sys.executable, "-m", "scp_volume_mcp", "--help"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0
    for command in ("serve", "demo", "emulator", "doctor", "audit"):
        listed = [line for line in done.stdout.splitlines() if line.strip().startswith(command + " ")]
        assert len(listed) == 1, (command, done.stdout)


@pytest.mark.slow
def test_serve_http_on_a_taken_port_suggests_another_port() -> None:
    import os
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
        done = subprocess.run(
            [sys.executable, "-m", "scp_volume_mcp", "serve", "--transport", "http", "--port", str(port), "--no-auth"],
            capture_output=True, text=True, timeout=60, env={**env, "SCP_CONFIG_DIR": "/nonexistent"},
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} (address in use?); choose another --port" in done.stderr
    assert "Traceback" not in done.stderr

"""The MCP Registry entry (server.json) and the uvx set-up: valid against the registry's schema, the same name as
the README's `mcp-name` (how the registry verifies the PyPI package is ours), the package's version, and every
environment variable the server reads."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp import __version__
from scp_volume_mcp.emulator import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer

ROOT = Path(__file__).resolve().parents[2]
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text())
SCHEMA: dict[str, Any] = json.loads((Path(__file__).parents[1] / "data" / "server.schema.json").read_text())
README = (ROOT / "README.md").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
[PACKAGE] = SERVER_JSON["packages"]
DECLARED = [variable["name"] for variable in PACKAGE["environmentVariables"]]

# Read by the code but meaningless for the registry's stdio package: they configure the HTTP transport only.
HTTP_ONLY = {
    "SCP_MCP_HTTP_TOKEN",
    "SCP_MCP_ALLOWED_HOSTS",
    "SCP_MCP_ALLOWED_ORIGINS",
    "SCP_MCP_STATE_KEYS",
    "SCP_MCP_OAUTH_ISSUER",
    "SCP_MCP_OAUTH_AUDIENCE",
    "SCP_MCP_OAUTH_INTROSPECTION_URL",
    "SCP_MCP_OAUTH_CLIENT_ID",
    "SCP_MCP_OAUTH_CLIENT_SECRET",
}


def _variables_read_by_the_code() -> set[str]:
    """Every string constant in the package that is exactly an SCP_* variable name."""
    names: set[str] = set()
    for source in (ROOT / "server" / "scp_volume_mcp").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if re.fullmatch(r"SCP_[A-Z0-9_]+", node.value):
                names.add(node.value)
    return names


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_server_json_is_valid_against_the_registry_schema() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(SERVER_JSON)]
    assert errors == []
    assert SERVER_JSON["$schema"] == SCHEMA["definitions"]["ServerDetail"]["properties"]["$schema"]["example"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "scp-volume-mcp"),  # not reverse-DNS: no namespace
        (("description",), "x" * 101),
        (("packages", 0, "version"), "latest"),
        (("packages", 0, "transport", "type"), "pipe"),
    ],
)
def test_the_schema_copy_rejects_what_the_registry_rejects(path: tuple[str | int, ...], value: str) -> None:
    broken = copy.deepcopy(SERVER_JSON)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not _validator().is_valid(broken)


def test_readme_mcp_name_is_the_server_name() -> None:
    names = re.findall(r"<!--\s*mcp-name:\s*(\S+)\s*-->", README)
    assert names == [SERVER_JSON["name"]]
    assert SERVER_JSON["name"].startswith("io.github.")
    assert SERVER_JSON["name"].endswith("/" + PROJECT["name"])


def test_server_json_and_the_project_name_one_repository() -> None:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    namespace, name = SERVER_JSON["name"].removeprefix("io.github.").split("/")
    assert SERVER_JSON["repository"] == {"url": f"https://github.com/{namespace}/{name}", "source": "github"}
    assert urls["Repository"] == urls["Homepage"] == SERVER_JSON["repository"]["url"]
    assert urls["Issues"].startswith(urls["Repository"])


def test_the_readme_says_plainly_what_works_before_publication() -> None:
    assert "not on PyPI yet" in README
    assert 'pip install ".[team]"' in README
    assert "uvx --from" in README


def test_server_json_describes_the_published_package() -> None:
    assert SERVER_JSON["version"] == __version__
    assert PACKAGE["version"] == __version__
    assert (PACKAGE["registryType"], PACKAGE["identifier"]) == ("pypi", PROJECT["name"])
    assert PACKAGE["runtimeHint"] == "uvx"
    assert PACKAGE["transport"] == {"type": "stdio"}
    assert [a["value"] for a in PACKAGE["packageArguments"]] == ["serve"]
    assert PACKAGE["identifier"] in PROJECT["scripts"]  # uvx runs the script named like the package


def test_server_json_declares_every_variable_the_code_reads() -> None:
    read = _variables_read_by_the_code()
    assert read >= HTTP_ONLY, "an HTTP-only variable is no longer read; drop it from HTTP_ONLY"
    assert len(DECLARED) == len(set(DECLARED))
    missing = sorted(read - HTTP_ONLY - set(DECLARED))
    assert missing == [], f"server.json does not declare {missing}"
    unknown = sorted(set(DECLARED) - read)
    assert unknown == [], f"server.json declares {unknown}, which the code does not read"


def test_manifest_maps_only_variables_the_server_knows() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text())
    mapped = set(manifest["server"]["mcp_config"]["env"])
    assert mapped <= set(DECLARED)


def test_secrets_and_requirements_are_marked() -> None:
    by_name = {variable["name"]: variable for variable in PACKAGE["environmentVariables"]}
    assert all(variable["description"].strip() for variable in by_name.values())
    secrets = {"SCP_ACCESS_KEY", "SCP_SECRET_KEY", "SCP_DATABASE_URL"}  # the URL carries a password
    assert {n for n, v in by_name.items() if v.get("isSecret")} == secrets
    assert {n for n, v in by_name.items() if v.get("isRequired")} == {"SCP_ACCESS_KEY", "SCP_SECRET_KEY"}
    assert by_name["SCP_SNAPSHOT_POLICY"]["choices"] == ["optional", "required", "off"]
    assert by_name["SCP_SNAPSHOT_POLICY"]["default"] == "optional"
    for variable in by_name.values():
        if "choices" in variable and "default" in variable:
            assert variable["default"] in variable["choices"], variable["name"]


def _uvx_snippet() -> dict[str, Any]:
    """The Claude Desktop uvx set-up (docs/clients.md). It is fenced as `jsonc` so tests/packaging/test_readme.py, which
    runs the `json` snippets with the locally installed command, leaves it out: `uvx scp-volume-mcp` fetches the
    package from PyPI, which is not this checkout. It is run here instead, with uvx pointed at this checkout."""
    page = (ROOT / "docs" / "clients.md").read_text()
    blocks = re.findall(r"^```jsonc\n(.*?)^```", page, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    config: dict[str, Any] = json.loads(blocks[0])
    return config


CHECKOUT = "/path/to/scp-volume-mcp"
"""The uvx snippet runs a checkout (`uvx --from <checkout>`) until the package is on PyPI."""


def test_uvx_snippet_runs_what_server_json_describes_from_a_checkout() -> None:
    [(name, server)] = _uvx_snippet()["mcpServers"].items()
    assert name == "scp-volume"
    command = [PACKAGE["runtimeHint"], PACKAGE["identifier"], *(a["value"] for a in PACKAGE["packageArguments"])]
    published = [server["command"], *(a for a in server["args"] if a not in ("--from", CHECKOUT))]
    assert published == command  # once on PyPI, dropping `--from <checkout>` gives server.json's command
    assert server["args"][:2] == ["--from", CHECKOUT]


@pytest.mark.slow
@pytest.mark.anyio
async def test_uvx_snippet_starts_the_server(emulator: EmulatorServer) -> None:
    from uv import find_uv_bin

    bare_python = Path(sys.base_prefix) / "bin" / "python3"
    if not bare_python.exists():
        pytest.skip("no base interpreter outside the virtual environment")
    [server] = _uvx_snippet()["mcpServers"].values()
    assert server["command"] == "uvx"
    placeholders = {"your-access-key": EMULATOR_ACCESS_KEY, "your-secret-key": EMULATOR_SECRET_KEY}
    env = {k: placeholders.get(v, v) for k, v in server["env"].items()}
    passed = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    env |= {k: v for k, v in os.environ.items() if k.startswith("UV_") or k.upper() in passed}
    env |= {"SCP_ENDPOINT": emulator.url, "SCP_CONFIG_DIR": "/nonexistent"}
    env |= {"UV_PYTHON": str(bare_python), "UV_PYTHON_DOWNLOADS": "never"}
    # `uvx ...` is `uv tool run ...`; the snippet's --from names a checkout: this one.
    args = ["tool", "run", *(str(ROOT) if a == CHECKOUT else a for a in server["args"])]
    args[2:2] = ["--refresh-package", PROJECT["name"]]
    async with Client(StdioServerParameters(command=find_uv_bin(), args=args, env=env), read_timeout_seconds=300) as c:
        tools = (await c.list_tools()).tools
        assert [t.name for t in tools] == ["list_volumes", "get_volume", "plan_volume_extension", "extend_volume"]
        result = await c.call_tool("list_volumes", {"name": "volume01"})
    assert not result.is_error, result.content

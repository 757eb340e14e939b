"""Every code block on the front page (README.md), on every page under docs/ and in CONTRIBUTING.md is exercised:

- client configurations (JSON) start the server and list its tools; the Claude Code command does the same;
- every shell command is checked against what it names (the CLI's own parser, the tools' flags, the project's
  extras, the emulator's routes, the variables the configuration page documents) and, where that is safe here
  (on loopback, against the emulator), run: `scp-volume-mcp serve`, `doctor`, `emulator`, the emulator's
  `curl` routes, the MCP Inspector recipe, `python -c`. A command that is not run here says why (it needs a real
  account or a network service, or another test runs it) in `_not_run_here`;
- the runbook runs; the policy files load; the replicas' GRANTs are the ones the team tests run.

A block the test does not know how to check fails `test_every_code_block_has_a_checker`: teach this file.

And the pages themselves: the README stays a front page (at most 250 lines), no line is wider than 120
characters, every relative link (and its #heading) leads somewhere, and every page under docs/ is linked from
the README."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from mcp import Client, StdioServerParameters

from scp_volume_mcp.emulator import DEFAULT_PORT, EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY, EmulatorServer
from scp_volume_mcp.messages import DESCRIPTIONS

from ..mcp_server.test_transports import SCRIPT, free_port, http_server

ROOT = Path(__file__).resolve().parents[2]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README_PATH, *DOCS, ROOT / "CONTRIBUTING.md"]
"""The pages whose commands, widths and links are checked."""
CI_COMMAND = (ROOT / ".ci" / "run").read_text().splitlines()[-1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
MARKERS = {marker.split(":", 1)[0] for marker in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]}
DOCUMENTED = set(re.findall(r"`(SCP_[A-Z0-9_]+)`", (ROOT / "docs" / "configuration.md").read_text()))
TOOLS = list(DESCRIPTIONS)
INSPECTOR = "@modelcontextprotocol/inspector@2"  # as tools/inspector_check.py runs it
EMULATOR_ADDRESS = re.compile(rf"\b(?:localhost|127\.0\.0\.1):{DEFAULT_PORT}\b")
PLACEHOLDERS = {"your-access-key": EMULATOR_ACCESS_KEY, "your-secret-key": EMULATOR_SECRET_KEY,
                "${input:scp-secret-key}": EMULATOR_SECRET_KEY}  # fmt: skip
README_WIDTH_EXCEPTION = CI_COMMAND.strip()
"""The README's test command is `.ci/run`'s line verbatim, on one line: the one line allowed past 120."""


# --- the code blocks of the pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    """The line of its first line of code, 1-based."""
    lang: str
    """The fence's info string ("" for an indented block)."""
    body: str
    marker: str
    """An HTML comment on the line just above the block (`<!-- volumes-file -->`), else ""."""

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


FENCE = re.compile(r"^(\s*)(```+)(\S*)\s*$")
LIST_ITEM = re.compile(r"^(\s*)(?:[-*]|\d+\.)\s+")


def _blocks_of(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index, list_indent = 0, 0
    while index < len(lines):
        line = lines[index]
        marker = lines[index - 1].strip() if index and lines[index - 1].strip().startswith("<!--") else ""
        if fence := FENCE.match(line):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == fence[2])
            code = [text[len(fence[1]) :] for text in lines[index + 1 : end]]
            found.append(Block(page, index + 2, fence[3], "\n".join(code) + "\n", marker))
            index = end + 1
            continue
        if item := LIST_ITEM.match(line):
            list_indent = len(item[0])
        elif line.strip() and not line.startswith(" "):
            list_indent = 0
        indent = list_indent + 4
        if line.startswith(" " * indent) and index and not lines[index - 1].strip():
            end = index
            while end < len(lines) and (lines[end].startswith(" " * indent) or not lines[end].strip()):
                end += 1
            code = [text[indent:] for text in lines[index:end]]
            found.append(Block(page, index + 1, "", "\n".join(code).strip("\n") + "\n", marker))
            index = end
            continue
        index += 1
    return found


BLOCKS = [block for page in PAGES for block in _blocks_of(page)]


def _blocks(lang: str, *, pages: list[Path] | None = None) -> list[Block]:
    return [b for b in BLOCKS if b.lang == lang and (pages is None or b.page in pages)]


def _client_configs() -> list[Block]:
    """The JSON blocks that configure a client (the emulator's volumes file is checked in test_first_hour)."""
    return [b for b in _blocks("json") if {"mcpServers", "servers"} & set(json.loads(b.body))]


# --- shell commands ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    block: Block
    env: tuple[tuple[str, str], ...]
    """`NAME=value` words before the program."""
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.block} {shlex.join(self.words)[:70]}"


def _commands_of(block: Block) -> list[Command]:
    logical = block.body.replace("\\\n", " ")
    commands: list[Command] = []
    for line in logical.splitlines():
        words = shlex.split(line, comments=True)
        assert not {"|", ";", ">", "<", "&"} & set(words), f"{block}: teach this test pipes and redirections"
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            part, words = words[:cut], words[cut + 1 :]
            assignments = []
            while part and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", part[0]):
                name, value = part.pop(0).split("=", 1)
                assignments.append((name, value))
            commands.append(Command(block, tuple(assignments), tuple(part)))
    return commands


SHELL_BLOCKS = [b for b in BLOCKS if b.lang in ("sh", "")]
COMMANDS = [command for block in SHELL_BLOCKS for command in _commands_of(block)]


def _tool_source(script: str) -> str:
    path = ROOT / script
    assert path.is_file(), f"{script} does not exist"
    return path.read_text()


def _check_python(args: list[str]) -> None:
    if args[:2] == ["-m", "venv"]:
        assert args[2:] == [".venv"]
    elif args[:2] == ["-m", "pytest"]:
        expression = args[args.index("-m", 2) + 1]
        named = set(re.findall(r"[A-Za-z_]+", expression)) - {"and", "or", "not"}
        assert named <= MARKERS, f"unknown pytest markers {named - MARKERS}"
    elif args[:2] == ["-m", "build"]:
        assert find_spec("build") is not None, "`build` is not installed by the dev extra"
    elif args[:1] == ["-c"]:
        compile(args[1], "<docs>", "exec")
    else:
        source = _tool_source(args[0])
        unknown = [flag for flag in args[1:] if flag.startswith("--") and f'"{flag}"' not in source]
        assert unknown == [], f"{args[0]} takes no {unknown}"


def _check_pip(args: list[str]) -> None:
    assert args[0] == "install"
    for spec in args[1:]:
        if spec == ".":
            continue
        if extras := re.fullmatch(r"\.\[([a-z,]+)\]", spec):
            assert set(extras[1].split(",")) <= EXTRAS, spec
        else:
            assert re.fullmatch(r"[a-z0-9-]+==[0-9.]+", spec), f"pip install {spec}: a pinned version or the checkout"


def _check_uv(args: list[str]) -> None:
    assert args[0] == "sync"
    flags = args[1:]
    while flags:
        flag = flags.pop(0)
        if flag == "--extra":
            assert flags.pop(0) in EXTRAS
        else:
            assert flag in ("--locked", "--active"), flag


def _parse_cli(args: list[str]) -> None:
    """The CLI's own parser accepts the arguments (`--help` and `--version` exit 0)."""
    from scp_volume_mcp.cli import _parser  # the parser `scp-volume-mcp` itself runs

    code: int | str | None = 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            _parser().parse_args(args)
        except SystemExit as exit_:
            code = exit_.code
    assert code == 0, f"scp-volume-mcp {shlex.join(args)}: {err.getvalue()}"


def _check_claude(args: list[str]) -> None:
    assert args[:2] == ["mcp", "add"]
    server = args[args.index("--") + 1 :]
    assert server[0] == "scp-volume-mcp"
    _parse_cli(server[1:])


def _inspector_parts(args: list[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """`npx -y <inspector> --cli [-e K=V]... <server command> --method ...`: (env, server command, options)."""
    assert args[:3] == ["-y", INSPECTOR, "--cli"], args[:3]
    rest, env = args[3:], {}
    while rest[0] == "-e":
        name, value = rest[1].split("=", 1)
        env[name] = value
        rest = rest[2:]
    cut = rest.index("--method")
    return env, rest[:cut], rest[cut:]


def _check_npx(args: list[str]) -> None:
    env, server, options = _inspector_parts(args)
    assert set(env) <= DOCUMENTED, set(env) - DOCUMENTED
    assert server[0] == "scp-volume-mcp"
    _parse_cli(server[1:])
    assert options[1] in ("tools/list", "tools/call")
    if options[1] == "tools/call":
        assert options[options.index("--tool-name") + 1] in TOOLS


def _curl_url(args: list[str]) -> str:
    takes_value = {"-H", "-X", "-d"}
    return next(a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] not in takes_value)


def _check_curl(args: list[str]) -> None:
    url = _curl_url(args)
    assert url.startswith(f"localhost:{DEFAULT_PORT}/_emulator/"), f"not an emulator control route: {url}"
    if "-d" in args:
        json.loads(args[args.index("-d") + 1])


def _check_twine(args: list[str]) -> None:
    assert args[:2] == ["check", "--strict"]
    assert find_spec("twine") is not None


STATIC_CHECKS: dict[str, Callable[[list[str]], None]] = {
    "python": _check_python,
    "python3": _check_python,
    ".": lambda args: None if args == [".venv/bin/activate"] else pytest.fail(f". {args}"),
    "pip": _check_pip,
    "uv": _check_uv,
    "tools/check": lambda args: None if os.access(ROOT / "tools" / "check", os.X_OK) else pytest.fail("tools/check"),
    "scp-volume-mcp": _parse_cli,
    "claude": _check_claude,
    "npx": _check_npx,
    "curl": _check_curl,
    "twine": _check_twine,
}


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_shell_command_names_what_exists(command: Command) -> None:
    """Checked without running anything: the variables are documented, the program is known, and what it is
    given (subcommands, flags, extras, routes, markers) is what the project offers."""
    unknown = {name for name, _ in command.env if not name.startswith("OTEL_")} - DOCUMENTED
    assert unknown == set(), f"{command}: variables not in docs/configuration.md"
    program, *args = command.words
    assert program in STATIC_CHECKS, f"{command}: teach tests/packaging/test_readme.py the program {program!r}"
    STATIC_CHECKS[program](args)


# --- running the commands that can run here ----------------------------------------------------------------


def _placeholder(env: tuple[tuple[str, str], ...]) -> bool:
    """A value to fill in (`...`), or a network service this machine does not have."""
    for _, value in env:
        host = urlsplit(value).hostname if "://" in value else None
        if "..." in value or (host is not None and host not in ("127.0.0.1", "localhost")):
            return True
    return False


def _not_run_here(command: Command) -> str | None:
    """Why a command is not run by this file (None: it is)."""
    program, *args = command.words
    if _placeholder(command.env):
        return "it needs a real account, database or network service: checked, not run"
    if program == "scp-volume-mcp":
        if {"serve", "doctor", "emulator", "--help", "--version"} & set(args):
            return None
        return {"demo": "tests/mcp_server/test_transports.py and tests/packaging/test_packaging.py run the demo",
                "db": "it needs PostgreSQL: the team tests run the migration"}.get(args[0], "not run")  # fmt: skip
    if program == "claude":
        return "test_claude_code_command_starts_the_server runs it, with the credentials file it needs"
    if program in ("curl", "npx") or args[:1] == ["-c"]:
        return None
    if program in ("pip", "uv", ".", "tools/check") or args[:2] == ["-m", "venv"]:
        return "the README's commands: CI runs the test command (.ci/run); test_packaging the try-it one"
    if args[:2] == ["-m", "pytest"]:
        return "the suite itself"
    if args[:2] == ["-m", "build"] or program == "twine":
        return "tests/packaging/test_packaging.py builds and checks the release"
    return (
        "minutes long: tests/packaging/test_bench.py and tests/extension/test_fault_histories.py run these tools "
        "bounded"
    )


def _run_env(command: Command, emulator: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCP_")}
    doc = {name: EMULATOR_ADDRESS.sub(urlsplit(emulator.url).netloc, value).replace("/tmp/", f"{tmp_path}/")
           for name, value in command.env}  # fmt: skip
    return {**base, "SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
            "SCP_SECRET_KEY": EMULATOR_SECRET_KEY, "SCP_CONFIG_DIR": "/nonexistent",
            "SCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"), **doc}  # fmt: skip


@contextlib.contextmanager
def _listening(argv: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    """Start a long-running command; yield once it listens on `port`; stop it."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            assert process.poll() is None, f"{shlex.join(argv)} stopped: {process.communicate()[0]}"
            assert time.monotonic() < deadline, f"{shlex.join(argv)} did not listen on {port} within 30 s"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _on_a_free_port(args: list[str]) -> tuple[list[str], int]:
    port = free_port()
    args = list(args)
    if "--port" in args:
        args[args.index("--port") + 1] = str(port)
    else:
        args += ["--port", str(port)]
    if "--host" in args:
        args[args.index("--host") + 1] = "127.0.0.1"  # loopback here, whatever the page binds
    return args, port


async def _lists_tools(command: str, args: list[str], env: dict[str, str]) -> None:
    params = StdioServerParameters(command=SCRIPT if command == "scp-volume-mcp" else command, args=args, env=env)
    async with Client(params) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        expected = [t for t in TOOLS if not ("--read-only" in args and t == "extend_volume")]
        assert tools == expected
        result = await client.call_tool("list_volumes", {"name": "volume01"})
        assert not result.is_error, result.content  # the placeholder keys were wired to the right variables


def _run_scp_volume_mcp(args: list[str], env: dict[str, str]) -> None:
    if {"--help", "--version"} & set(args) or "doctor" in args:
        done = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    elif "emulator" in args or "http" in args:
        argv, port = _on_a_free_port(args)
        with _listening([SCRIPT, *argv], env, port):
            pass
    else:
        anyio.run(_lists_tools, "scp-volume-mcp", args, env)


def _run_curl(args: list[str], emulator: EmulatorServer) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    argv = [EMULATOR_ADDRESS.sub(urlsplit(emulator.url).netloc, a) for a in args]
    done = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *argv], capture_output=True, text=True, timeout=30)
    body, _, status = done.stdout.rpartition("\n")
    assert (done.returncode, status) == (0, "200"), done.stdout + done.stderr
    json.loads(body)


def _run_inspector(args: list[str], emulator: EmulatorServer, env: dict[str, str]) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("Node.js (npx) is not installed: the MCP Inspector cannot run here")
    given, server, options = _inspector_parts(args)
    ours = {"SCP_ENDPOINT": emulator.url, "SCP_ACCESS_KEY": EMULATOR_ACCESS_KEY,
            "SCP_SECRET_KEY": EMULATOR_SECRET_KEY, "SCP_AUDIT_LOG": env["SCP_AUDIT_LOG"]}  # fmt: skip
    e = [word for name, value in {**given, **ours}.items() for word in ("-e", f"{name}={value}")]
    argv = [npx, "-y", INSPECTOR, "--cli", *e, SCRIPT, *server[1:], *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    if options[1] == "tools/list":
        assert [tool["name"] for tool in answer["tools"]] == TOOLS
    else:
        assert not answer.get("isError"), answer


def _runs(command: Command) -> Any:
    spawns = command.words[0] not in ("curl",) and command.words[:2] != ("python", "-c")
    return pytest.param(command, id=str(command), marks=[pytest.mark.slow] if spawns else [])


@pytest.mark.parametrize("command", [_runs(c) for c in COMMANDS if _not_run_here(c) is None])
def test_every_command_that_can_run_here_runs(command: Command, emulator: EmulatorServer, tmp_path: Path) -> None:
    program, *args = command.words
    env = _run_env(command, emulator, tmp_path)
    if program == "scp-volume-mcp":
        _run_scp_volume_mcp(args, env)
    elif program == "curl":
        _run_curl(args, emulator)
    elif program == "npx":
        _run_inspector(args, emulator, env)
    else:
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr


def test_the_commands_not_run_here_say_why() -> None:
    reasons = {str(c): _not_run_here(c) for c in COMMANDS}
    assert "not run" not in reasons.values(), [c for c, r in reasons.items() if r == "not run"]
    assert any(r is None for r in reasons.values())


# --- the other blocks ---------------------------------------------------------------------------------------


def _block_kind(block: Block) -> str:
    if block.marker == "<!-- volumes-file -->":
        return "volumes file (tests/commands/test_demo_and_first_use.py loads and serves it)"
    if block.lang == "json" and block in _client_configs():
        return "client configuration"
    kinds = {"sh": "shell", "": "shell", "jsonc": "uvx configuration (tests/packaging/test_registry.py runs it)",
             "toml": "policy file", "sql": "GRANTs", "nginx": "nginx", "python": "runbook"}  # fmt: skip
    return kinds.get(block.lang, "")


def test_every_code_block_has_a_checker() -> None:
    unknown = [str(b) for b in BLOCKS if not _block_kind(b)]
    assert unknown == [], "code blocks this test does not check: teach tests/packaging/test_readme.py"


def test_ci_runs_the_readmes_test_command() -> None:
    command = README.split("Run the tests", 1)[1].split("\n\n", 2)[1].strip()
    assert command == CI_COMMAND
    assert "uv sync --locked" in command  # CI installs the versions in uv.lock


def _servers(config: dict[str, Any]) -> dict[str, Any]:
    servers: dict[str, Any] = config.get("mcpServers") or config.get("servers") or {}
    return servers


def _env(env: dict[str, str], emulator: EmulatorServer) -> dict[str, str]:
    resolved = {k: PLACEHOLDERS.get(v, v) for k, v in env.items()}
    return {**resolved, "SCP_ENDPOINT": emulator.url, "SCP_CONFIG_DIR": "/nonexistent", "SCP_AUDIT_LOG": "off"}


def test_the_readme_connects_every_client() -> None:
    readme_configs = [json.loads(b.body) for b in _client_configs() if b.page == README_PATH]
    assert len(readme_configs) == 3  # Claude Desktop, VS Code, Cursor
    assert all(len(_servers(c)) == 1 for c in readme_configs)
    assert any(b.body.startswith("claude mcp add") for b in _blocks("sh", pages=[README_PATH]))
    for client in ("Claude Desktop", "Claude Code", "VS Code", "Cursor"):
        assert f"### {client}" in README
    assert "bundle of server type `uv`" in README


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("block", _client_configs(), ids=str)
async def test_json_configs_start_the_server(emulator: EmulatorServer, block: Block) -> None:
    [(name, server)] = _servers(json.loads(block.body)).items()
    assert name == "scp-volume"
    await _lists_tools(server["command"], server["args"], _env(server["env"], emulator))


def test_the_uvx_configuration_is_the_by_hand_one_through_uvx() -> None:
    [uvx] = [json.loads(b.body) for b in _blocks("jsonc")]
    by_hand = json.loads(next(b for b in _client_configs() if b.page == README_PATH).body)  # Claude Desktop's
    [(_, through_uvx)] = uvx["mcpServers"].items()
    [(_, direct)] = by_hand["mcpServers"].items()
    assert through_uvx["env"] == direct["env"]
    assert through_uvx["args"][-2:] == [direct["command"], *direct["args"]]


@pytest.mark.slow
@pytest.mark.anyio
async def test_claude_code_command_starts_the_server(emulator: EmulatorServer, tmp_path: Path) -> None:
    [line] = [b.body.strip() for b in _blocks("sh") if b.body.startswith("claude mcp add")]
    words = shlex.split(line)
    assert words[:4] == ["claude", "mcp", "add", "scp-volume"]
    assert "SECRET" not in line  # the secret stays off the command line: the credentials file holds it
    separator = words.index("--")
    options, command = words[4:separator], words[separator + 1 :]
    env = dict(value.split("=", 1) for flag, value in zip(options[::2], options[1::2], strict=True) if flag == "--env")
    credentials = tmp_path / "credentials.json"  # as the README says to write it
    credentials.write_text(json.dumps({"access-key": EMULATOR_ACCESS_KEY, "secret-key": EMULATOR_SECRET_KEY}))
    credentials.chmod(0o600)
    await _lists_tools(command[0], command[1:], {**_env(env, emulator), "SCP_CONFIG_DIR": str(tmp_path)})


@pytest.mark.parametrize("block", _blocks("toml"), ids=str)
def test_policy_files_load_as_written(block: Block, tmp_path: Path) -> None:
    from scp_volume_mcp.policy import load_policy

    path = tmp_path / "policy.toml"
    path.write_text(block.body)
    policy = load_policy(path)
    for table, rules in tomllib.loads(block.body).items():
        loaded = getattr(policy, table)
        assert {key: getattr(loaded, key) for key in rules} == rules


def test_the_grants_are_the_ones_the_team_tests_run() -> None:
    [block] = _blocks("sql")
    source = ast.parse((ROOT / "tests" / "team" / "test_durable.py").read_text())
    [grants] = [node.value.value for node in source.body if isinstance(node, ast.Assign)
                and [getattr(t, "id", "") for t in node.targets] == ["REPLICA_GRANTS"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]  # fmt: skip
    written = [line for line in block.body.splitlines() if line.strip() and not line.startswith("--")]
    tested = grants.format(role="scp_replica", password="...", database="scp").strip().splitlines()
    assert written == tested


def test_the_nginx_example_sends_mcp_to_its_upstream() -> None:
    """Not run (that needs nginx and certificates); tests/commands/test_demo_and_first_use.py checks its Host
    against a server."""
    [block] = _blocks("nginx")
    assert block.body.count("{") == block.body.count("}")
    [upstream] = re.findall(r"^upstream (\S+) \{", block.body, flags=re.MULTILINE)
    assert set(re.findall(r"proxy_pass http://(\S+);", block.body)) == {upstream}
    assert "location /mcp {" in block.body


@pytest.mark.slow
def test_runbook_snippet_plans_and_extends_over_http(emulator: EmulatorServer, tmp_path: Path) -> None:
    [block] = _blocks("python")
    # The extension takes as long as with `scp-volume-mcp emulator` (--extend-seconds 5): longer than httpx's
    # default 5 s read timeout, which the snippet must not fall into while `wait` holds the call open.
    emulator.state.settings.extend_seconds = 5.0
    token = secrets.token_urlsafe(32)
    with http_server(emulator, SCP_MCP_HTTP_TOKEN=token) as url:
        script = tmp_path / "runbook.py"
        script.write_text(block.body.replace("http://127.0.0.1:8000/mcp", url))
        env = {**os.environ, "SCP_MCP_HTTP_TOKEN": token}
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "can grow 100 GB -> 104 GB" in done.stdout
    assert 'Extended "volume01"' in done.stdout
    assert len(emulator.state.requests("PUT")) == 1


# --- the pages -----------------------------------------------------------------------------------------------


def test_the_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_line_is_wider_than_120_characters(page: Path) -> None:
    wide = [f"{page.name}:{n}" for n, line in enumerate(page.read_text().splitlines(), 1)
            if len(line) > 120 and not (page == README_PATH and line.strip() == README_WIDTH_EXCEPTION)]  # fmt: skip
    assert wide == []


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", FENCED.sub("", page.read_text()), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


FENCED = re.compile(r"^\s*```.*?^\s*```", flags=re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCED.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and anchor not in _anchors(linked)):
            broken.append(target)
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(README)}
    assert [page.name for page in DOCS if page not in linked] == []


def test_the_configuration_page_names_every_variable_the_code_reads() -> None:
    from .test_registry import _variables_read_by_the_code

    assert sorted(_variables_read_by_the_code() - DOCUMENTED) == []

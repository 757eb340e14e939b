"""The package's shape, as a contract CI checks: layers that import only downward, no import cycle (every import
counted: function-level and type-checking ones too), function-level imports only for an optional heavy
dependency, one module that changes an attempt and writes its records, and sizes a reader can hold."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "scp_volume_mcp"

LAYERS: list[set[str]] = [
    {"__init__", "scp"},
    {
        "untrusted_text", "tracing", "coordination", "jwks", "oauth", "policy", "scp_connection", "side_by_side",
        "card_tokens", "logs", "http_edges", "emulator", "snapshots",
    },
    {"audit", "team", "settings", "file_locks"},
    {"messages", "models"},
    {"extension"},
    {"mcp_tools"},
    {
        "server", "stdio_transport", "graceful_stop", "http_transport", "doctor", "issuer_check", "demo", "cli",
        "__main__",
    },
]  # fmt: skip
"""Lowest first: the SCP client and the emulator; what every part shares; the stores (audit trail, team database)
and settings; the words and result models; the extension service; its MCP adapters; the server and commands."""

OPTIONAL_HEAVY = ("psycopg", "psycopg_pool", "opentelemetry", "jwt")
"""What a function may import: the team extra's driver and the otel extra, absent from a plain install; and PyJWT,
which only OAuth uses: it loads cryptography.x509, about 90 M instructions (some 40 ms) of a stdio server's
start-up (callgrind in a plain install, 2026-12-07)."""


@dataclass(frozen=True)
class Import:
    module: str
    """The importing module, dotted."""
    target: str
    """What it imports: a module of the package (dotted) or a third-party top-level name."""
    line: int
    in_function: bool


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> Iterator[Import]:
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text())
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    in_functions = {id(n) for f in functions for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, id(node) in in_functions)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            named = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
            for found in named or [target]:
                yield Import(module, found, node.lineno, id(node) in in_functions)


IMPORTS = [found for module, path in MODULES.items() for found in _imports(module, path)]
OWN = [i for i in IMPORTS if i.target.split(".")[0] == "scp_volume_mcp" and i.target in MODULES]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    unit = _unit(module)
    return next(index for index, layer in enumerate(LAYERS) if unit in layer)


def test_every_module_has_a_layer() -> None:
    units = {_unit(module) for module in MODULES}
    assert units - set().union(*LAYERS) == set(), "give each new module or subpackage its place in LAYERS"


def test_nothing_imports_upward() -> None:
    upward = [f"{i.module}:{i.line} imports {i.target}" for i in OWN if _layer(i.target) > _layer(i.module)]
    assert upward == []


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in OWN:
        if found.target != found.module and not found.module.startswith(found.target + "."):
            graph[found.module].add(found.target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_a_function_imports_only_an_optional_heavy_dependency() -> None:
    found = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.in_function and not i.target.startswith(OPTIONAL_HEAVY)
    ]
    assert found == []


def _attempt_attributes_set(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Assignments to an attribute of something named `attempt` (`attempt.sent = ...`, `self.attempt.x = ...`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            parts = target.elts if isinstance(target, ast.Tuple) else [target]
            for part in parts:
                if isinstance(part, ast.Attribute) and ast.unparse(part.value).split(".")[-1] == "attempt":
                    yield node.lineno, part.attr


def _trail_writes(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            plain = isinstance(node.func, ast.Name) and called in ("write_intent", "write_outcome")
            if plain or called.endswith(("trail.write", "audit.write")):
                yield node.lineno, called


def test_an_attempt_is_changed_and_recorded_in_one_module() -> None:
    """`extension/attempt.py` alone changes an `Attempt` and writes its records (the trail itself and the
    operator's `audit --close` live in `audit/`)."""
    home = "scp_volume_mcp.extension.attempt"
    elsewhere = [
        f"{module}:{line} {what}"
        for module, path in MODULES.items()
        if module != home and not module.startswith("scp_volume_mcp.audit")
        for check in (_attempt_attributes_set, _trail_writes)
        for line, what in check(ast.parse(path.read_text()))
    ]
    assert elsewhere == []


LIMITS = {"function": 80, "class": 160, "module": 400}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_sizes_a_reader_can_hold(module: str) -> None:
    text = MODULES[module].read_text()
    assert len(text.splitlines()) <= LIMITS["module"], f"{module} has over {LIMITS['module']} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            kind = "class"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "function"
        else:
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        assert length <= LIMITS[kind], f"{module}: {kind} {node.name} has {length} lines"

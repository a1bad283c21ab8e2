"""gwcore is pure: stdlib only, no I/O, no clock, no hidden randomness, no threads.

Parses every module under src/gwcore with ``ast`` and fails on a forbidden import
or call, so a violation is caught before it ships.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "gwcore"

# Modules whose presence in gwcore would mean I/O, concurrency or a hidden input.
FORBIDDEN_MODULES = {
    "asyncio", "trio", "anyio", "h11", "httpx", "socket", "ssl", "select", "selectors",
    "threading", "multiprocessing", "concurrent", "subprocess", "signal", "time",
    "datetime", "uuid", "secrets", "os", "io", "shutil", "tempfile", "pathlib",
    "logging", "etcd3", "yaml", "urllib.request", "http.client",
}  # fmt: skip
# Calls that read hidden inputs even through an allowed module.
FORBIDDEN_CALLS = {
    ("random", "random"), ("random", "randint"), ("random", "choice"),
    ("random", "shuffle"), ("random", "uniform"), ("random", "randrange"),
    ("random", "choices"), ("random", "sample"), ("random", "getrandbits"),
    ("random", "seed"),
}  # fmt: skip
FORBIDDEN_NAMES = {"open", "print", "input", "exec", "eval", "__import__", "breakpoint"}


def _modules() -> list[pathlib.Path]:
    return sorted(SRC.rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_module_is_pure(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        else:
            names = []
        for name in names:
            if name in FORBIDDEN_MODULES or _top(name) in FORBIDDEN_MODULES:
                problems.append(f"line {getattr(node, 'lineno', 0)}: imports {name}")
            elif _top(name) not in sys.stdlib_module_names and _top(name) != "gwcore":
                problems.append(f"line {getattr(node, 'lineno', 0)}: imports non-stdlib {name}")
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in FORBIDDEN_CALLS
            ):
                problems.append(f"line {node.lineno}: calls {func.value.id}.{func.attr}()")
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
                problems.append(f"line {node.lineno}: calls {func.id}()")
    assert problems == [], f"{path.name} is not pure:\n" + "\n".join(problems)


def test_every_module_is_checked() -> None:
    assert len(_modules()) >= 4

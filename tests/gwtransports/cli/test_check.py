"""``gw check`` (and ``gw serve`` refusing a file) as a user runs them: one line per
problem, ``FILE:LINE: PATH: MESSAGE``, and ``--json`` with path, message and line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SERVICES = 'services:\n  users: {endpoints: [{url: "http://127.0.0.1:9001"}]}\n'

#: (file content, expected problems as (line, path, message start)); line 1 is
#: the first line of the file.
INVALID = {
    "fields": (
        SERVICES + "routes:\n  a:\n    prefix: nope\n    service: ghost\n",
        [(5, "routes.a.prefix", "prefix must start with '/'"),
         (6, "routes.a.service", "no service named 'ghost'")],
    ),
    "duplicate key": (
        SERVICES + "routes:\n  a: {prefix: /a, service: users}\n"
        "  a: {prefix: /b, service: users}\n",
        [(5, "routes.a", "duplicate key (first on line 4)")],
    ),
    "tie": (
        SERVICES + "routes:\n  a: {prefix: /x, service: users}\n"
        "  b: {prefix: /x/, service: users}\n",
        [(4, "routes.a", "ties with routes.b")],
    ),
    "syntax": ("routes: [\n", [(2, "", "invalid YAML")]),
}  # fmt: skip


def gw(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gwtransports.cli", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize("case", sorted(INVALID))
def test_each_problem_once_with_file_line_and_path(tmp_path: Path, case: str) -> None:
    text, expected = INVALID[case]
    (tmp_path / "gateway.yaml").write_text(text)
    human = gw("check", "-c", "gateway.yaml", cwd=tmp_path)
    assert human.returncode == 1
    assert human.stdout == ""
    lines = human.stderr.splitlines()
    assert len(lines) == len(expected)
    for got, (line, path, message) in zip(lines, expected, strict=True):
        where = f"gateway.yaml:{line}: {path}: " if path else f"gateway.yaml:{line}: "
        assert got.startswith(where + message), got
        assert got.count("gateway.yaml") == 1, got  # the file is named once
    machine = gw("check", "-c", "gateway.yaml", "--json", cwd=tmp_path)
    assert machine.returncode == 1
    report = json.loads(machine.stdout)
    assert report["ok"] is False and report["warnings"] == []
    assert [(e["line"], e["path"]) for e in report["errors"]] == [(x[0], x[1]) for x in expected]
    for error, (_, _, message) in zip(report["errors"], expected, strict=True):
        assert set(error) == {"path", "message", "line"}
        assert error["message"].startswith(message)


def test_unreadable_file(tmp_path: Path) -> None:
    human = gw("check", "-c", "missing.yaml", cwd=tmp_path)
    assert (human.returncode, human.stderr) == (
        1,
        "missing.yaml: cannot read: No such file or directory\n",
    )
    report = json.loads(gw("check", "-c", "missing.yaml", "--json", cwd=tmp_path).stdout)
    assert report["errors"] == [
        {"path": "", "message": "cannot read: No such file or directory", "line": None}
    ]  # fmt: skip


def test_shadowed_routes_are_warnings_and_exit_0(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        SERVICES + "routes:\n"
        "  c: {prefix: /y, service: users, methods: [GET]}\n"
        "  d: {prefix: /y, service: users, methods: [GET], priority: 1}\n"
    )
    human = gw("check", "-c", "gateway.yaml", cwd=tmp_path)
    assert human.returncode == 0
    assert human.stdout.splitlines() == [
        "gateway.yaml:4: warning: routes.c: shadowed by d",
        "gateway.yaml: ok (2 routes, 1 services)",
    ]  # fmt: skip
    machine = gw("check", "-c", "gateway.yaml", "--json", cwd=tmp_path)
    assert machine.returncode == 0
    report = json.loads(machine.stdout)
    assert report["ok"] is True and report["errors"] == []
    assert report["warnings"] == [{"path": "routes.c", "message": "shadowed by d", "line": 4}]


def test_serve_refuses_an_invalid_file_one_line_per_problem(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(INVALID["fields"][0])
    result = gw("serve", "-c", "gateway.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "gw serve: gateway.yaml:5: routes.a.prefix: prefix must start with '/'",
        "gw serve: gateway.yaml:6: routes.a.service: no service named 'ghost'",
    ]  # fmt: skip

"""The examples the README shows run and print what the README says."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_embedding_example_runs_a_retry_without_sockets() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "embed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "try 1: http://10.0.0.1:9001 /42?full=1"
    assert lines[1] == "try 2: http://10.0.0.2:9001 /42?full=1 attempt 1"
    assert lines[2] == "users upstream_ok 1 upstream_bad 1"
    assert "config error: routes.broken.prefix: prefix must start with '/'" in lines
    assert "config error: routes.broken.service: no service named 'nowhere'" in lines
    assert lines[-1].startswith("no route: 404 ")

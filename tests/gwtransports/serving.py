"""``gw serve`` as a subprocess, for the tests that run it as a user would.

:func:`free_port` picks loopback ports for the config, :class:`Served` starts
``gw serve -c FILE``, polls until a readiness check passes (failing at once, with
the log, when the process exits instead), and stops it with SIGTERM, asserting
a clean exit. :func:`named_upstreams` runs plain HTTP upstreams that answer
``<name> <path>``, so a test can see which one a request reached.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

__all__ = [
    "GW",
    "Served",
    "answers_ok",
    "free_port",
    "listening",
    "named_upstreams",
    "run_gw",
    "wait_until",
]

#: The ``gw`` command, run with this interpreter.
GW = (sys.executable, "-m", "gwtransports.cli")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], object], *, timeout: float = 15.0, what: str = "") -> None:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


def answers_ok(url: str) -> bool:
    """Whether ``GET url`` answers 200 (``False`` while nothing listens)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def run_gw(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one ``gw`` command to its end; output as text."""
    return subprocess.run(
        [*GW, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


class Served:
    """One ``gw serve -c CONFIG ARGS...`` subprocess.

    Args:
        config: The config file; the process runs in its folder.
        args: More ``gw serve`` arguments.
        log: Where stderr (the gateway's log) goes; ``CONFIG`` with suffix
            ``.log`` by default, appended to across restarts.
        stdout: Where stdout (the access log) goes; discarded by default.
    """

    def __init__(
        self, config: Path, *args: str, log: Path | None = None, stdout: Path | None = None
    ) -> None:
        self.config = config
        self.args = args
        self.log = config.with_suffix(".log") if log is None else log
        self.stdout = stdout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(
        self, ready: Callable[[], object], *, timeout: float = 20.0, what: str = "gw serve up"
    ) -> None:
        """Start the process and wait until ``ready()`` is truthy.

        Raises:
            AssertionError: When the process exits first (with its log), or
                after ``timeout`` seconds.
        """
        with contextlib.ExitStack() as files:
            err = files.enter_context(self.log.open("ab"))
            out = (
                subprocess.DEVNULL
                if self.stdout is None
                else files.enter_context(self.stdout.open("ab"))
            )
            self.proc = subprocess.Popen(
                [*GW, "serve", "-c", str(self.config), *self.args],
                stdout=out, stderr=err, cwd=self.config.parent,
            )  # fmt: skip
        wait_until(lambda: self.running() and ready(), timeout=timeout, what=what)

    def running(self) -> bool:
        """True while the process runs; an exit is a failure, reported with the log."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is not None:
            raise AssertionError(
                f"gw serve exited with {self.proc.returncode}:\n{self.log.read_text()}"
            )
        return True

    def stop(self) -> None:
        """SIGTERM, and assert a clean exit (0) within 20 s; nothing when not running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=20) == 0, self.log.read_text()
        self.proc = None

    def close(self) -> None:
        """End the process whatever its state (for cleanup after a failed test)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung gateway
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class _Named(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.server.name} {self.path}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def named_upstreams(*names: str) -> Iterator[dict[str, int]]:
    """HTTP upstreams on loopback answering ``<name> <path>``: name -> port."""
    servers = {}
    for name in names:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.daemon_threads = True
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    try:
        yield {name: server.server_address[1] for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()

"""``gw serve`` as a user runs it: a subprocess, signals, workers, the demo."""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path

import h11
import pytest
import trio

from tests.gwtransports.serving import Served, free_port, listening, run_gw
from tests.gwtransports.trio.helpers import Client, Upstream, get, next_event, run, send_response

EXAMPLE = Path(__file__).parents[3] / "examples" / "gateway.yaml"


async def _serve(tmp: Path, config: str, port: int, *args: str) -> Served:
    """``gw serve`` on ``config`` (access log and error log in ``tmp``), once
    ``port`` accepts connections; started in a thread, so upstreams keep serving."""
    path = tmp / "gateway.yaml"
    path.write_text(config)
    served = Served(path, *args, log=tmp / "error.log", stdout=tmp / "access.log")
    await trio.to_thread.run_sync(partial(served.start, partial(listening, port)))
    return served


async def _exit_code(served: Served) -> int:
    assert served.proc is not None
    return await trio.to_thread.run_sync(partial(served.proc.wait, timeout=10))


async def _refused(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return True
    await stream.aclose()
    return False


@pytest.mark.slow
def test_sigterm_stops_accepting_drains_and_exits_0(tmp_path: Path) -> None:
    release = trio.Event()

    async def slow(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        if req.target == b"/slow":
            await release.wait()
        await send_response(stream, conn, 200, b"done " + req.target)

    async def main() -> None:
        up = Upstream(handler=slow)
        port = free_port()
        async with trio.open_nursery() as nursery:
            up_port = await nursery.start(up.run)
            config = (
                f"listen: 127.0.0.1:{port}\nadmin: {{listen: '127.0.0.1:0'}}\n"
                "timeouts: {grace: 10s}\n"
                f"services: {{s: {{endpoints: [{{url: 'http://127.0.0.1:{up_port}'}}]}}}}\n"
                "routes: {r: {prefix: /, service: s}}\n"
            )
            served = await _serve(tmp_path, config, port)
            assert served.proc is not None
            try:
                idle = await Client.open(port)
                assert (await idle.request("GET", "/warm")).status == 200
                busy = await trio.open_tcp_stream("127.0.0.1", port)
                conn = h11.Connection(h11.CLIENT)
                await busy.send_all(
                    (
                        conn.send(
                            h11.Request(method="GET", target="/slow", headers=[("host", "a")])
                        )
                        or b""
                    )
                    + (conn.send(h11.EndOfMessage()) or b"")
                )
                with trio.fail_after(5):
                    while not any(t == "/slow" for _, t, _ in up.requests):
                        await trio.sleep(0.02)
                served.proc.send_signal(signal.SIGTERM)
                with trio.fail_after(5):
                    while not await _refused(port):
                        await trio.sleep(0.02)
                with trio.fail_after(5):  # the idle keep-alive connection is closed
                    assert await idle.stream.receive_some(100) == b""
                await idle.aclose()
                assert served.running()  # still draining the busy request
                release.set()
                resp = await next_event(conn, busy)
                assert resp.status_code == 200
                assert (await next_event(conn, busy)).data == b"done /slow"
                await busy.aclose()
                assert await _exit_code(served) == 0
            finally:
                served.close()
            nursery.cancel_scope.cancel()

    run(main)


@pytest.mark.slow
def test_demo_sighup_reload_and_invalid_file_refused(tmp_path: Path) -> None:
    async def main() -> None:
        port, demo_port = free_port(), free_port()
        text = EXAMPLE.read_text().replace("8080", str(port)).replace("9001", str(demo_port))
        text = text.replace("127.0.0.1:8081", "127.0.0.1:0")
        served = await _serve(tmp_path, text, port, "--demo")
        assert served.proc is not None
        try:
            hello = await get(port, "/hello")
            assert (hello.status, hello.body) == (200, b"hello from gw\n")
            echo = await get(port, "/echo/abc?x=1")
            doc = echo.json()
            assert (doc["path"], doc["query"], doc["headers"]["x-forwarded-proto"]) == (
                "/abc",
                "x=1",
                "http",
            )
            # valid reload: the respond body changes
            (tmp_path / "gateway.yaml").write_text(text.replace("hello from gw", "hello again"))
            served.proc.send_signal(signal.SIGHUP)
            with trio.fail_after(10):
                while (await get(port, "/hello")).body != b"hello again\n":
                    await trio.sleep(0.05)
            # invalid reload: refused, logged, old config keeps serving
            (tmp_path / "gateway.yaml").write_text(text + "\nroutes_typo: {}\n")
            served.proc.send_signal(signal.SIGHUP)
            with trio.fail_after(10):
                while b"reload refused" not in (tmp_path / "error.log").read_bytes():
                    await trio.sleep(0.05)
            assert (await get(port, "/hello")).body == b"hello again\n"
            served.proc.send_signal(signal.SIGTERM)
            assert await _exit_code(served) == 0
        finally:
            served.close()
        log = (tmp_path / "access.log").read_text()
        assert '"GET /echo/abc?x=1" 200' in log and "route=echo" in log

    run(main)


@pytest.mark.slow
def test_two_workers_share_the_port(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        config = (
            f"listen: 127.0.0.1:{port}\nadmin: {{listen: '127.0.0.1:0'}}\n"
            "routes: {hi: {prefix: /, respond: {body: hi}}}\n"
        )
        served = await _serve(tmp_path, config, port, "--workers", "2")
        assert served.proc is not None
        try:
            pids: set[str] = set()
            with trio.fail_after(20):
                while len(pids) < 2:  # fresh connections spread over both workers
                    resp = await get(port, "/")
                    assert resp.status == 200
                    pids.add(resp.headers["x-request-id"].split("-")[0])
            served.proc.send_signal(signal.SIGTERM)
            assert await _exit_code(served) == 0
        finally:
            served.close()
        workers = {
            line.split("serving on")[1]
            for line in (tmp_path / "error.log").read_text().splitlines()
            if "serving on" in line
        }
        assert len(workers) == 2

    run(main)


def test_bad_config_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("listen: 127.0.0.1:0\nroutes: {r: {prefix: nope, service: missing}}\n")
    out = run_gw("serve", "-c", str(path))
    assert out.returncode == 1
    assert "prefix" in out.stderr

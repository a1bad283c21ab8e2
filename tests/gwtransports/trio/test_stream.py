"""Large bodies stream through the gateway both ways in bounded memory."""

from __future__ import annotations

import os

import h11
import trio

from tests.gwtransports.trio.helpers import Upstream, gateway, make_config, next_event, run

SIZE = 128 * 1024 * 1024  # big enough that buffering it whole would show, small enough to be quick
PIECE = b"p" * (256 * 1024)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _download(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
    if req.method == b"POST":
        await stream.send_all(
            (
                conn.send(
                    h11.Response(status_code=200, headers=[("content-length", str(len(body)))])
                )
                or b""
            )
            + (conn.send(h11.EndOfMessage()) or b"")
        )
        return
    await stream.send_all(
        conn.send(h11.Response(status_code=200, headers=[("content-length", str(SIZE))])) or b""
    )
    left = SIZE
    while left:
        piece = PIECE if left >= len(PIECE) else PIECE[:left]
        left -= len(piece)
        await stream.send_all(conn.send(h11.Data(data=piece)) or b"")
    await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


def test_large_upload_and_download_in_bounded_memory() -> None:
    peak = [0]

    async def sampler(base: int) -> None:
        while True:
            peak[0] = max(peak[0], _rss() - base)
            await trio.sleep(0.02)

    async def main() -> None:
        up = Upstream(handler=_download, keep_body=False)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                {"s": [port]}, {"r": {"prefix": "/", "service": "s"}}, limits={"max_body": None}
            )
            async with gateway(cfg) as gw:
                base = _rss()
                nursery.start_soon(sampler, base)
                stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
                conn = h11.Connection(h11.CLIENT)
                # upload, chunked (no length known in advance)
                head = h11.Request(
                    method="POST",
                    target="/up",
                    headers=[("host", "a"), ("transfer-encoding", "chunked")],
                )
                await stream.send_all(conn.send(head) or b"")
                for _ in range(SIZE // len(PIECE)):
                    await stream.send_all(conn.send(h11.Data(data=PIECE)) or b"")
                await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
                resp = await next_event(conn, stream)
                assert resp.status_code == 200
                while not isinstance(await next_event(conn, stream), h11.EndOfMessage):
                    pass
                assert up.body_bytes == SIZE
                # download on the same connection
                conn.start_next_cycle()
                await stream.send_all(
                    (
                        conn.send(
                            h11.Request(method="GET", target="/down", headers=[("host", "a")])
                        )
                        or b""
                    )
                    + (conn.send(h11.EndOfMessage()) or b"")
                )
                resp = await next_event(conn, stream)
                assert resp.status_code == 200
                got = 0
                while True:
                    ev = await next_event(conn, stream)
                    if isinstance(ev, h11.EndOfMessage):
                        break
                    got += len(ev.data)
                assert got == SIZE
                await stream.aclose()
            nursery.cancel_scope.cancel()

    run(main)
    # 256 MiB went through; the process grew by a small, size-independent amount.
    assert peak[0] < 32 * 1024 * 1024, f"RSS grew by {peak[0] / 2**20:.1f} MiB"

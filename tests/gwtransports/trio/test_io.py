"""The gateway's reads and writes on plain TCP streams (trio/_body.py): every
byte arrives, a full send buffer is waited out, and a close under a pending
read (the timer sweep's way of ending an upstream wait) ends that read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from gwtransports.trio._body import receive, send_all
from gwtransports.trio.upstream import BROKEN
from tests.gwtransports.trio.helpers import gateway, make_config, run

SIZE = 8 * 1024 * 1024  # far more than the socket buffers hold: the writer must wait


async def _pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


def test_every_byte_arrives_in_order_through_a_full_send_buffer() -> None:
    data = bytes(range(256)) * (SIZE // 256)
    got: list[bytes] = []

    async def reader(stream: trio.SocketStream, started: trio.Event) -> None:
        await started.wait()  # the writer has filled the buffer by now
        while piece := await receive(stream):
            got.append(piece)

    async def main() -> None:
        left, right = await _pair()
        started = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader, right, started)
            async with trio.open_nursery() as writer:
                writer.start_soon(send_all, left, data)
                await trio.testing.wait_all_tasks_blocked()
                started.set()  # the writer is blocked on a full buffer
            await left.aclose()
        await right.aclose()
        assert len(got) > 1
        assert b"".join(got) == data

    run(main)


def test_a_read_that_waits_ends_when_the_socket_is_closed() -> None:
    caught: list[BaseException] = []

    async def pending(stream: trio.SocketStream) -> None:
        try:
            await receive(stream)
        except BROKEN as exc:
            caught.append(exc)

    async def main() -> None:
        left, right = await _pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pending, left)
            await trio.testing.wait_all_tasks_blocked()
            left.socket.close()  # what UpstreamConn.close does under a pending read
        assert len(caught) == 1
        await right.aclose()

    run(main)


def test_reads_and_writes_on_a_closed_socket_fail() -> None:
    async def main() -> None:
        left, right = await _pair()
        left.socket.close()
        for op in (receive(left), send_all(left, b"x")):
            try:
                await op
            except BROKEN:
                pass
            else:
                raise AssertionError("an operation on a closed socket succeeded")
        await right.aclose()

    run(main)


def test_the_peer_closing_reads_as_end_of_stream() -> None:
    async def main() -> None:
        left, right = await _pair()
        await send_all(right, b"last words")
        await right.aclose()
        assert await receive(left) == b"last words"
        assert await receive(left) == b""
        await left.aclose()

    run(main)


def _count_ticks(ticks: list[int]) -> Callable[[], Awaitable[None]]:
    async def ticker() -> None:
        while True:
            ticks[0] += 1
            await trio.sleep(0)

    return ticker


def test_a_pipelining_client_leaves_the_others_a_turn_per_request() -> None:
    # The gateway reads 300 pipelined requests in one go and its writes never
    # find the socket full: without a checkpoint per request nothing else would
    # run until all 300 were answered.
    n = 300
    ticks = [0]

    async def main() -> None:
        cfg = make_config(routes={"hi": {"prefix": "/", "respond": {"body": "hi"}}})
        async with gateway(cfg) as gw, trio.open_nursery() as nursery:
            stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
            nursery.start_soon(_count_ticks(ticks))
            await stream.send_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n" * n)
            got = b""
            while got.count(b"HTTP/1.1 200") < n:
                got += await stream.receive_some()
            nursery.cancel_scope.cancel()
            await stream.aclose()
        assert ticks[0] >= n // 2, ticks

    run(main)

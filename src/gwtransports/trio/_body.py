"""The request body on its way upstream, and writes to the client.

The body streams from the client to the upstream as it arrives; its start is
kept in a :class:`~gwtransports._exchange.ReplayBuffer` so that a retry can
send it again. Every wait is guarded by the connection's
:class:`~gwtransports._timers.Timer`.
"""

from __future__ import annotations

import os
from time import monotonic
from typing import TYPE_CHECKING

import trio

from gwtransports._exchange import ReplayBuffer
from gwtransports._http1 import HttpError
from gwtransports._parser import END, NEED_DATA, ParseError, ServerParser
from gwtransports._timers import Timer, Wait
from gwtransports.trio.upstream import BROKEN, UpstreamConn

if TYPE_CHECKING:
    from gwtransports.trio.server import Server

__all__ = [
    "AbortConnection",
    "Body",
    "UpstreamBroke",
    "receive",
    "send_all",
    "send_body",
    "to_client",
]

RECEIVE_SIZE = 64 * 1024


class AbortConnection(Exception):
    """Close the client connection without (further) answer: the client went
    away, or a response already started cannot be completed."""


class _Aborted(AbortConnection):
    """The upstream failed mid-response; the core was told and the attempt ended."""


class UpstreamBroke(Exception):
    """The upstream connection failed; ``got_bytes``: a response byte had arrived."""

    def __init__(self, reason: str, got_bytes: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.got_bytes = got_bytes


# Plain TCP streams are read and written on their file descriptor directly
# (os.read/os.write on a non-blocking socket), waiting through trio only when
# the kernel says so. trio's stream methods add a checkpoint to every call even
# when the socket was ready -- four trips through the scheduler per proxied
# request -- plus a context manager and a conflict check each. Waits stay
# checkpoints, so deadlines and drain still cancel a connection wherever it
# waits. The connection yields where a yield pays for itself -- before it reads
# the upstream's answer (trio/_proxy.py) and a keep-alive client's next request
# (trio/_head.py): both have then usually arrived, and a read that finds its
# bytes costs less than a wait for them. A ``respond:`` answer yields too, and
# every body loop once per piece, so a busy connection cannot starve the others.
_RAW_IO = os.name == "posix"


async def receive(stream: trio.abc.Stream) -> bytes:
    """The next bytes from ``stream`` (``b""``: the peer closed).

    Raises:
        OSError, trio.BrokenResourceError, trio.ClosedResourceError: The
            connection broke or was closed under the read (see ``BROKEN``).
    """
    if type(stream) is not trio.SocketStream or not _RAW_IO:
        return bytes(await stream.receive_some(RECEIVE_SIZE))
    sock = stream.socket
    while True:
        try:
            # fileno() is -1 once closed: EBADF, never another socket's bytes.
            return os.read(sock.fileno(), RECEIVE_SIZE)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)


async def send_all(stream: trio.abc.Stream, data: bytes) -> None:
    """Write all of ``data`` to ``stream``.

    Raises:
        OSError, trio.BrokenResourceError, trio.ClosedResourceError: As for
            :func:`receive`.
    """
    if type(stream) is not trio.SocketStream or not _RAW_IO:
        await stream.send_all(data)
        return
    sock = stream.socket
    view: memoryview | None = None
    sent = 0
    while True:
        try:
            sent += os.write(sock.fileno(), data if view is None else view[sent:])
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        if sent >= len(data):
            return
        if view is None:
            view = memoryview(data)


async def to_client(stream: trio.abc.Stream, data: bytes, timer: Timer, idle: float) -> None:
    """Write to the client; a client that stops reading for ``idle`` is cut off."""
    if type(stream) is trio.SocketStream and _RAW_IO:
        # Usually the whole answer fits the socket buffer: written at once, no
        # deadline to set.
        try:
            sent = os.write(stream.socket.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError:
            raise AbortConnection from None
        if sent >= len(data):
            return
        data = data[sent:]
    timer.arm(Wait.CLIENT, monotonic() + idle)
    try:
        await send_all(stream, data)
    except BROKEN:
        raise AbortConnection from None
    timer.disarm()


class Body:
    """The client's request body across attempts."""

    __slots__ = ("length", "limit", "received", "replay")

    def __init__(self, length: int | None, limit: int | None) -> None:
        self.length = length  # None: no body; -1: chunked
        self.limit = limit
        self.received = 0
        self.replay = ReplayBuffer()

    @property
    def replayable(self) -> bool:
        # Everything read so far is still at hand (or nothing was read yet).
        return self.length is None or self.replay.size >= 0


async def _client_chunk(
    stream: trio.abc.Stream, parser: ServerParser, timer: Timer, idle: float
) -> bytes | bytearray | None:
    """The next piece of the request body, ``None`` at its end (a client that
    pauses longer than ``idle`` is cut off with 408 by the timer sweep)."""
    while True:
        try:
            ev = parser.next_event()
        except ParseError as exc:
            raise HttpError(exc.status, exc.detail) from None
        if isinstance(ev, (bytes, bytearray)):
            return ev
        if ev is END:
            return None
        if ev is not NEED_DATA:
            raise AbortConnection
        await trio.lowlevel.checkpoint()  # one per piece: a fast client cannot hog the loop
        timer.arm(Wait.CLIENT, monotonic() + idle)
        try:
            data = await receive(stream)
        except BROKEN:
            raise AbortConnection from None
        timer.disarm()
        if not data:
            raise AbortConnection
        parser.receive_data(data)


async def send_body(
    server: Server,
    stream: trio.abc.Stream,
    parser: ServerParser,
    timer: Timer,
    *,
    conn: UpstreamConn,
    body: Body,
) -> None:
    up = conn.parser
    replay = body.replay
    for chunk in replay.chunks:
        await _to_upstream(conn, up.send_data(chunk), timer, server)
    if not replay.complete:
        idle = server.settings.idle
        if parser.waiting_for_continue:
            await to_client(stream, parser.send_continue(), timer, idle)
        while True:
            piece = await _client_chunk(stream, parser, timer, idle)
            if piece is None:
                replay.complete = True
                break
            body.received += len(piece)
            if body.limit is not None and body.received > body.limit:
                raise HttpError(413, f"request body larger than {body.limit} bytes")
            replay.add(piece)
            await _to_upstream(conn, up.send_data(piece), timer, server)
    await _to_upstream(conn, up.send_end(), timer, server)


async def _to_upstream(conn: UpstreamConn, data: bytes, timer: Timer, server: Server) -> None:
    """Write request body bytes; an upstream that stops reading for
    ``timeouts.response`` is cut off (its connection closed by the sweep)."""
    timer.arm(Wait.UPSTREAM, monotonic() + server.settings.response, conn)
    try:
        await send_all(conn.stream, data)
    except BROKEN:
        if timer.fired is Wait.UPSTREAM:
            raise UpstreamBroke("upstream stopped reading the request body", False) from None
        raise
    timer.disarm()

"""Reading one request head from a client, under the connection's deadlines."""

from __future__ import annotations

from time import monotonic

import trio

from gwtransports._http1 import HeadScanner
from gwtransports._parser import NEED_DATA, RequestHead, ServerParser
from gwtransports._timers import Timer, Wait
from gwtransports.trio._body import receive

__all__ = ["read_head"]


async def read_head(
    stream: trio.abc.Stream,
    parser: ServerParser,
    scanner: HeadScanner,
    timer: Timer,
    *,
    first: bool,
    header_read: float,
    idle: float,
) -> RequestHead | None:
    """The next request head, or ``None`` when the client closed first.

    A keep-alive connection (``first`` false) waits up to ``idle`` for the
    next request; the head itself must then arrive within ``header_read`` of
    its first byte (on a new connection: of the connection). The timer sweep
    enforces both (:mod:`gwtransports._timers`).

    Raises:
        HttpError: 414, 431, obs-fold 400 (from the raw head scan).
        ParseError: The parser refused the head.
    """
    complete = scanner.reset(parser.buffered())
    if first:
        timer.arm(Wait.HEAD, monotonic() + header_read)
    elif not complete:
        # The response went out a moment ago: let the other connections run
        # before reading, so that the client's next request has usually
        # arrived -- a read that finds it costs less than a wait for it.
        await trio.lowlevel.checkpoint()
        timer.arm(Wait.IDLE, monotonic() + idle)
        data = await receive(stream)
        if not data:
            return None
        timer.arm(Wait.HEAD, monotonic() + header_read)
        parser.receive_data(data)
        complete = scanner.feed(data)
    while True:
        if complete:
            ev = parser.next_event()
            if isinstance(ev, RequestHead):
                timer.disarm()
                return ev
            if ev is not NEED_DATA:
                return None
        data = await receive(stream)
        if not data:
            return None
        parser.receive_data(data)
        complete = scanner.feed(data)

"""Answers the gateway gives itself: ``respond:`` routes and JSON errors."""

from __future__ import annotations

import ssl
import time
from email.utils import formatdate

import trio

from gwcore.events import Respond
from gwtransports._exchange import Exchange
from gwtransports._http1 import REASONS, HttpError, error_response
from gwtransports._parser import ServerParser

__all__ = ["Date", "respond", "send_error"]


class Date:
    """The ``Date`` header value, formatted once per second."""

    __slots__ = ("_sec", "value")

    def __init__(self) -> None:
        self._sec = -1
        self.value = b""

    def get(self) -> bytes:
        sec = int(time.time())
        if sec != self._sec:
            self._sec = sec
            self.value = formatdate(sec, usegmt=True).encode()
        return self.value


def respond(
    parser: ServerParser, cmd: Respond, ex: Exchange, *, head: bool, close: bool, date: Date
) -> bytes:
    """The bytes of a ``respond:`` route's answer (framing, ``Date``, request id)."""
    body = cmd.body
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in cmd.headers]
    if not any(n == b"content-type" for n, _ in headers):
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    headers += [
        (b"content-length", str(len(body)).encode()),
        (b"date", date.get()),
        (b"x-request-id", cmd.request_id.encode("latin-1", "replace")),
    ]
    if close or parser.body_pending:
        headers.append((b"connection", b"close"))
    out = parser.send_response(cmd.status, headers, REASONS.get(cmd.status, b""))
    ex.status = cmd.status
    ex.response_started = True
    if body and not head and cmd.status not in (204, 304):
        out += parser.send_data(body)
        ex.bytes_out = len(body)
    return out + parser.send_end()


async def send_error(
    stream: trio.abc.Stream,
    parser: ServerParser | None,
    err: HttpError,
    ex: Exchange,
    *,
    head: bool,
    date: Date,
) -> None:
    """Answer with the JSON error body (best effort: the client may be gone).

    Args:
        parser: ``None`` when no request head was parsed: the answer is written
            raw and the connection closes.
        head: The request was ``HEAD``: no body.
    """
    if parser is not None and parser.body_pending:
        err.close = True  # an unread body cannot be skipped safely: close after
    headers, body = error_response(err, ex.request_id)
    headers.append((b"date", date.get()))
    ex.status = err.status
    ex.response_started = True
    try:
        if parser is None:
            lines = [b"HTTP/1.1 %d %s\r\n" % (err.status, REASONS.get(err.status, b""))]
            lines += [b"%s: %s\r\n" % (n, v) for n, v in headers]
            await stream.send_all(b"".join(lines) + b"\r\n" + body)
        else:
            out = parser.send_response(err.status, headers, REASONS.get(err.status, b""))
            if not head:
                out += parser.send_data(body)
            await stream.send_all(out + parser.send_end())
        ex.bytes_out = 0 if head else len(body)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError):
        pass

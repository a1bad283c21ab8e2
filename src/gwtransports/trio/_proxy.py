"""Carrying out one ``Forward``: attempts, retries, and streaming both ways.

Theory of operation
-------------------
For each attempt the core decided::

    pooled or new connection ──(ConnectFailed)──────────────┐
      send head (+ body, from the replay buffer, then client) │
      await response head within response_timeout ──(UpstreamTimedOut / UpstreamReset)
      ResponseReceived ───────────────────────────────────────┤
                                        gw.outcome ◀─────────┘
           None: stream the response, finish() │ Forward: next attempt │ raises: error answer

The request body goes to the upstream as it arrives; its first 64 KiB are kept
(:class:`~gwtransports._exchange.ReplayBuffer`) so a retry can send it again. A
larger body that already went out cannot be replayed: if the core asks for a
retry then, the client gets 502 instead.

A pooled connection may have been closed by the upstream while idle. If it
fails before any response byte arrives, the attempt is repeated once on a new
connection without telling the core: that is the pool's fault, not the
endpoint's. For a request that is not idempotent this happens only when nothing
of it was written (Go's ``net/http`` draws the same line), and its pooled
connection is checked for a close by the upstream before it is used.

Once response bytes went to the client, an upstream failure can only be
signalled by closing the client connection (:class:`AbortConnection`): a
truncated response must never look complete.
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

import trio

from gwcore.errors import GatewayError
from gwcore.events import (
    ConnectFailed,
    Forward,
    Outcome,
    ResponseReceived,
    UpstreamReset,
    UpstreamTimedOut,
)
from gwtransports._exchange import Exchange
from gwtransports._http1 import (
    HttpError,
    client_headers,
    error_from_gateway,
    upstream_headers,
)
from gwtransports._parser import END, NEED_DATA, ParseError, ResponseHead, ServerParser
from gwtransports._timers import Timer, Wait
from gwtransports.trio._body import (
    AbortConnection,
    Body,
    UpstreamBroke,
    _Aborted,
    receive,
    send_all,
    send_body,
    to_client,
)
from gwtransports.trio.upstream import BROKEN, ConnectError, UpstreamConn

if TYPE_CHECKING:
    from gwtransports.trio.server import Server

__all__ = ["AbortConnection", "UpstreamConn", "forward", "to_client"]


async def _attempt(
    server: Server,
    stream: trio.abc.Stream,
    parser: ServerParser,
    timer: Timer,
    *,
    fwd: Forward,
    method: bytes,
    body: Body,
) -> tuple[Outcome, UpstreamConn | None, ResponseHead | None]:
    """One attempt: connect (or reuse), send, await the response head."""
    pool = server.pool
    ca = None
    if fwd.scheme == "https":
        service = server.gateway.config.services.get(fwd.service)
        ca = service.ca if service else None
    # A TLS connection verified against one CA must never serve a service that
    # trusts another: the CA is part of the pool key.
    key = (
        f"{fwd.scheme}://{fwd.host}:{fwd.port}"
        if ca is None
        else f"https://{fwd.host}:{fwd.port}|{ca}"
    )
    target = fwd.target.encode("latin-1")
    retried_stale = False
    while True:
        start = monotonic()
        conn = pool.checkout(key, start, verify=not fwd.idempotent)
        reused = conn is not None
        if conn is None:
            try:
                conn = await pool.connect(
                    key,
                    scheme=fwd.scheme,
                    host=fwd.host,
                    port=fwd.port,
                    timeout=fwd.connect_timeout,
                    ca=ca,
                )
            except ConnectError as exc:
                return ConnectFailed(reason=str(exc)), None, None
        conn.requests += 1
        written = False
        try:
            try:
                up = conn.parser
                out = up.send_request(
                    method, target, upstream_headers(fwd.headers, body.length), checked=True
                )
                if body.length is None:
                    await send_all(conn.stream, out + up.send_end())
                    written = True
                else:
                    await send_all(conn.stream, out)
                    written = True
                    await send_body(server, stream, parser, timer, conn=conn, body=body)
                head = await _read_head(conn, fwd.response_timeout, timer)
            except BROKEN as exc:
                raise UpstreamBroke(f"connection broken: {exc}", False) from None
            except BaseException:
                conn.close()
                raise
        except UpstreamBroke as exc:
            conn.close()
            stale_ok = reused and not retried_stale and not exc.got_bytes and body.replayable
            if stale_ok and (not written or fwd.idempotent):
                retried_stale = True
                continue
            return UpstreamReset(request_sent=written, reason=exc.reason), None, None
        if head is None:
            conn.close()
            return UpstreamTimedOut(request_sent=True), None, None
        latency = monotonic() - start
        return ResponseReceived(status=head.status, latency=latency), conn, head


async def _read_head(conn: UpstreamConn, timeout: float, timer: Timer) -> ResponseHead | None:
    """The upstream's final response head; ``None`` when ``timeout`` passed first
    (the timer sweep then closed the connection under the pending read)."""
    up = conn.parser
    got = False
    timer.arm(Wait.UPSTREAM, monotonic() + timeout, conn)
    try:
        while True:
            try:
                ev = up.next_event()
            except ParseError as exc:
                raise UpstreamBroke(exc.detail, got) from None
            if ev is NEED_DATA:
                if not got:
                    # Let the other connections run first: by the time this
                    # one reads, the answer has usually arrived, and a read
                    # that finds it costs less than a wait for it.
                    await trio.lowlevel.checkpoint()
                try:
                    data = await receive(conn.stream)
                except BROKEN as exc:
                    if timer.fired is Wait.UPSTREAM:
                        return None
                    raise UpstreamBroke(f"connection broken: {exc}", got) from None
                got = got or bool(data)
                up.receive_data(data)
                continue
            if isinstance(ev, ResponseHead):
                return ev
            raise UpstreamBroke("connection closed before a response", got)
    finally:
        timer.disarm()


async def forward(
    server: Server,
    stream: trio.abc.Stream,
    parser: ServerParser,
    timer: Timer,
    *,
    fwd: Forward,
    ex: Exchange,
    method: bytes,
    length: int | None,
) -> bool:
    """Carry out a ``Forward`` and every retry the core asks for.

    Args:
        length: The request body's length, ``-1`` when chunked, ``None`` for none.

    Returns:
        Whether the client connection may carry another request.

    Raises:
        HttpError: Answer the client with this (no response byte was sent yet).
        AbortConnection: Close the client connection.
    """
    gw = server.gateway
    if length is not None and fwd.max_body is not None and length > fwd.max_body:
        gw.finish(fwd, trio.current_time())
        raise HttpError(413, f"request body larger than {fwd.max_body} bytes")
    body = Body(length, fwd.max_body)
    # ``open_``: the attempt the core still counts as in flight (finish it on the
    # way out); ``conn``: the upstream connection to close on the way out.
    open_: Forward | None = fwd
    conn: UpstreamConn | None = None
    try:
        while True:
            ex.endpoint = fwd.endpoint
            ex.retries = fwd.attempt
            event, conn, head = await _attempt(
                server, stream, parser, timer, fwd=fwd, method=method, body=body
            )
            try:
                nxt = gw.outcome(fwd, event, trio.current_time())
            except GatewayError as exc:
                open_ = None  # the core ended the attempt
                raise error_from_gateway(exc) from None
            if nxt is None:
                if conn is None or head is None:
                    raise HttpError(502, "upstream failed", close=False)
                break
            if conn is not None:
                conn.close()  # a retried response is dropped unread
                conn = None
            open_ = fwd = nxt
            if not body.replayable:
                raise HttpError(502, "upstream failed after the request body was sent")
        try:
            keep = await _stream_response(
                server, stream, parser, timer, fwd=fwd, conn=conn, head=head, ex=ex
            )
        except _Aborted:
            open_ = conn = None  # told the core, closed the upstream connection
            raise
        open_ = None
        gw.finish(fwd, trio.current_time())
        server.pool.checkin(conn, monotonic())  # the pool's clock, as in checkout
        conn = None
        return keep
    finally:
        if conn is not None:
            conn.close()
        if open_ is not None:
            gw.finish(open_, trio.current_time())


async def _stream_response(
    server: Server,
    stream: trio.abc.Stream,
    parser: ServerParser,
    timer: Timer,
    *,
    fwd: Forward,
    conn: UpstreamConn,
    head: ResponseHead,
    ex: Exchange,
) -> bool:
    """Send the response head and stream the body; pieces already parsed go out
    together in one write (a small response is one ``send``)."""
    headers = client_headers(head.headers)
    close = server.draining or parser.body_pending
    if close:
        headers = [*headers, (b"connection", b"close")]
    pending = [parser.send_response(head.status, headers, head.reason, checked=True)]
    ex.status = head.status
    ex.response_started = True
    up = conn.parser
    timeout = fwd.response_timeout
    idle = server.settings.idle
    sent = 0
    try:
        while True:
            ev = up.next_event()
            if isinstance(ev, (bytes, bytearray)):
                sent += len(ev)
                pending.append(parser.send_data(ev))
                continue
            if ev is NEED_DATA:
                await to_client(
                    stream, b"".join(pending) if len(pending) > 1 else pending[0], timer, idle
                )
                pending.clear()
                await trio.lowlevel.checkpoint()  # one per piece, as in send_body
                timer.arm(Wait.UPSTREAM, monotonic() + timeout, conn)
                try:
                    got = await receive(conn.stream)
                except BROKEN:
                    if timer.fired is Wait.UPSTREAM:
                        raise UpstreamBroke("response body timed out", True) from None
                    raise
                timer.disarm()
                up.receive_data(got)
                continue
            if ev is END:
                pending.append(parser.send_end())
                await to_client(stream, b"".join(pending), timer, idle)
                ex.bytes_out = sent
                return not close and parser.keep_alive
            raise UpstreamBroke("connection closed mid-response", True)
    except (UpstreamBroke, ParseError, *BROKEN) as exc:
        ex.bytes_out = sent
        reason = exc.reason if isinstance(exc, UpstreamBroke) else str(exc)
        conn.close()
        gw = server.gateway
        try:
            event = UpstreamReset(request_sent=True, response_started=True, reason=reason)
            nxt = gw.outcome(fwd, event, trio.current_time())
        except GatewayError:
            pass
        else:
            gw.finish(nxt or fwd, trio.current_time())
        raise _Aborted from None

"""Upstream connections on trio: connect (TCP or TLS), pooled keep-alive reuse,
and active health probes.

The bookkeeping (which idle connection to reuse, when to close one) is
:class:`gwtransports._pool_state.PoolState`; this module only does the I/O.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Callable

import trio

from gwcore.events import StartProbe
from gwtransports._parser import NEED_DATA, ClientParser, ParseError, ResponseHead
from gwtransports._pool_state import PoolState

__all__ = ["ConnectError", "UpstreamConn", "UpstreamPool", "probe"]

#: Bytes read from an upstream per receive: big enough that a large body moves
#: in few steps, small enough that memory per connection stays bounded.
RECEIVE_SIZE = 64 * 1024

#: Seconds of idleness after which a pooled connection is checked before reuse.
CHECK_AFTER = 1.0

# Errors that mean "the connection broke" on any trio stream.
BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError)


class ConnectError(Exception):
    """The upstream connection could not be established (refused, timed out,
    TLS verification failed)."""


class UpstreamConn:
    """One connection to one upstream endpoint, with its own parser.

    Attributes:
        key: The endpoint key (``scheme://host:port``) the pool files it under.
        stream: The trio stream (``SocketStream`` or ``SSLStream``).
        parser: The client-side HTTP/1.1 parser of this connection.
        requests: Requests carried so far (1 on first use).
    """

    __slots__ = ("_sock", "key", "parser", "requests", "stream")

    def __init__(self, key: str, stream: trio.abc.Stream, parser: ClientParser) -> None:
        self.key = key
        self.stream = stream
        self.parser = parser
        self.requests = 0
        inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        self._sock = inner.socket if isinstance(inner, trio.SocketStream) else None

    def looks_closed(self) -> bool:
        """Whether an idle connection has something to read: EOF, a reset or
        stray bytes. Either way it cannot carry a request (one ``select`` call,
        cheaper than a failed request)."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        """Close at once, without a TLS close_notify (the connection is dropped,
        not ended politely)."""
        if self._sock is not None:
            self._sock.close()

    async def receive(self) -> bytes:
        return bytes(await self.stream.receive_some(RECEIVE_SIZE))


class UpstreamPool:
    """Connects to upstream endpoints and keeps idle keep-alive connections.

    Every ``now`` given to it is ``time.monotonic()`` (not the event loop's
    clock, which runs on another origin): idle times are differences of them.

    Args:
        parser_factory: Makes a client-side parser per connection.
        state: Pool bookkeeping (bounds, idle expiry).
    """

    def __init__(
        self, parser_factory: Callable[[], ClientParser], state: PoolState[UpstreamConn]
    ) -> None:
        self._parser_factory = parser_factory
        self.state = state
        self._ssl: dict[str | None, ssl.SSLContext] = {}
        #: Connections opened so far (tests and stats count reuse with it).
        self.opened = 0

    def ssl_context(self, ca: str | None) -> ssl.SSLContext:
        """A verifying client context per CA file (``None``: the system store)."""
        ctx = self._ssl.get(ca)
        if ctx is None:
            ctx = ssl.create_default_context(cafile=ca)
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl[ca] = ctx
        return ctx

    def checkout(self, key: str, now: float, *, verify: bool = False) -> UpstreamConn | None:
        """An idle, live connection to ``key``, or ``None``.

        A connection idle for more than ``CHECK_AFTER`` (or any, with
        ``verify``) is first checked for a close by the upstream (one
        ``select``). One used a moment ago is taken as is for a request that may
        be repeated: if it fails before any response byte, the request goes
        again on a new connection (see ``trio/_proxy.py``). A request that must
        not be sent twice (``verify``) cannot take that detour once written.
        """
        while True:
            conn, idle, dead = self.state.checkout(key, now)
            for c in dead:
                c.close()
            if conn is None or (idle < CHECK_AFTER and not verify) or not conn.looks_closed():
                return conn
            conn.close()

    def checkin(self, conn: UpstreamConn, now: float) -> None:
        """Keep a connection whose last exchange ended cleanly."""
        if conn.parser.start_next_cycle():
            for c in self.state.checkin(conn.key, conn, now):
                c.close()
        else:
            conn.close()

    def expire(self, now: float) -> None:
        for c in self.state.expire(now):
            c.close()

    def close_all(self) -> None:
        for c in self.state.drain():
            c.close()

    async def _open(
        self, key: str, *, scheme: str, host: str, port: int, timeout: float, ca: str | None
    ) -> UpstreamConn:
        tcp: trio.SocketStream | None = None
        try:
            with trio.fail_after(timeout):
                tcp = await trio.open_tcp_stream(host, port)
                tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stream: trio.abc.Stream = tcp
                if scheme == "https":
                    tls = trio.SSLStream(stream, self.ssl_context(ca), server_hostname=host)
                    await tls.do_handshake()
                    stream = tls
        except BaseException:
            if tcp is not None:
                tcp.socket.close()
            raise
        self.opened += 1
        return UpstreamConn(key, stream, self._parser_factory())

    async def connect(
        self, key: str, *, scheme: str, host: str, port: int, timeout: float, ca: str | None
    ) -> UpstreamConn:
        """Open a new connection (TCP, then TLS for ``https``) within ``timeout``.

        Raises:
            ConnectError: With a short reason for the core and the log.
        """
        try:
            return await self._open(
                key, scheme=scheme, host=host, port=port, timeout=timeout, ca=ca
            )
        except trio.TooSlowError:
            raise ConnectError("connect timed out") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS: {exc.reason or exc}") from None
        except trio.BrokenResourceError as exc:  # trio wraps TLS handshake failures
            cause = exc.__cause__
            reason = getattr(cause, "reason", None) or cause or exc
            raise ConnectError(f"TLS: {reason}") from None
        except OSError as exc:
            raise ConnectError(exc.strerror or str(exc)) from None


async def probe(cmd: StartProbe, pool: UpstreamPool, ca: str | None) -> str | None:
    """Send one active health probe on a connection of its own.

    Returns:
        ``None`` when the endpoint answered 2xx/3xx in time, else the reason.
    """
    key = f"{cmd.scheme}://{cmd.host}:{cmd.port}"
    try:
        with trio.fail_after(cmd.timeout):
            conn = await pool.connect(
                key, scheme=cmd.scheme, host=cmd.host, port=cmd.port, timeout=cmd.timeout, ca=ca
            )
            try:
                host = f"{cmd.host}:{cmd.port}".encode()
                headers = [(b"host", host), (b"user-agent", b"gw-probe"), (b"connection", b"close")]
                await conn.stream.send_all(
                    conn.parser.send_request(b"GET", cmd.target.encode(), headers)
                )
                while True:
                    ev = conn.parser.next_event()
                    if ev is NEED_DATA:
                        conn.parser.receive_data(await conn.receive())
                    elif isinstance(ev, ResponseHead):
                        return None if 200 <= ev.status < 400 else f"status {ev.status}"
                    else:
                        return "no response"
            finally:
                conn.close()
    except trio.TooSlowError:
        return "probe timed out"
    except ConnectError as exc:
        return str(exc)
    except ParseError as exc:
        return exc.detail
    except BROKEN as exc:
        return f"connection broken: {exc}"

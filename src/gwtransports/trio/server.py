"""The trio gateway server: listeners, client connections, drain and reload.

Theory of operation
-------------------
One task per client connection runs a loop of request cycles::

    read head (trio/_head.py) -> check_framing -> gwcore decide
      -> Respond | Forward (trio/_proxy.py) -> access log line -> next cycle, or close

Each wait is guarded by the connection's one :class:`~gwtransports._timers.Timer`
(idle keep-alive, head 408, client I/O, upstream 504), swept every ``SWEEP``
seconds. Draining (SIGTERM) cancels exactly the connections idle between
requests and lets every request in progress finish. A connection whose request
broke framing rules is closed, never reused.

Every config change (SIGHUP reload, admin API, etcd watcher) goes through
:meth:`Server.apply`; connection loops only read ``self.gateway`` and ``self.settings``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Sequence
from time import monotonic

import trio

from gwcore.errors import GatewayError
from gwcore.events import Applied, Change, ProbeFailed, ProbeSucceeded, Request, Respond, StartProbe
from gwtransports._accesslog import AccessLog
from gwtransports._exchange import Exchange, RequestIds
from gwtransports._http1 import (
    HeadScanner,
    HttpError,
    Settings,
    check_framing,
    core_headers,
    error_from_gateway,
)
from gwtransports._parser import PARSERS, ParseError, RequestHead, ServerParser
from gwtransports._pool_state import PoolState
from gwtransports._seam import GatewayLike
from gwtransports._timers import Timer, Wait, expired
from gwtransports.trio import _answers, _proxy
from gwtransports.trio._head import read_head
from gwtransports.trio._listen import open_listeners
from gwtransports.trio.upstream import UpstreamPool, probe

__all__ = ["GatewayLike", "Server", "open_listeners"]

log = logging.getLogger("gw")

#: Seconds between sweeps of the connection deadlines: timeouts hold to within it.
SWEEP = 0.05


class _Conn(Timer):
    """One client connection: its deadline (a :class:`Timer`), the cancel scope
    that deadline cancels, and the request in progress (for a late 408)."""

    __slots__ = ("exchange", "scope")

    def __init__(self) -> None:
        super().__init__()
        self.scope = trio.CancelScope()
        self.exchange: Exchange | None = None


class Server:
    """The gateway on trio: serves clients, executes the core's decisions.

    Args:
        gateway: The core (or anything with the same methods).
        access_log: Where request lines go; ``None`` logs nothing.
        http: Parser name from :data:`gwtransports._parser.PARSERS`.
        pool: Upstream pool bookkeeping (bounds, idle expiry).
    """

    def __init__(
        self,
        gateway: GatewayLike,
        *,
        access_log: AccessLog | None = None,
        http: str = "h11",
        pool: PoolState[_proxy.UpstreamConn] | None = None,
    ) -> None:
        self.gateway = gateway
        self.settings = Settings.from_config(gateway.config)
        self.access_log = access_log
        self._server_parser, client_parser = PARSERS[http]
        self.pool = UpstreamPool(client_parser, pool or PoolState())
        self.ids = RequestIds()
        self.date = _answers.Date()
        self._slots = trio.lowlevel.ParkingLot()
        #: Client connections open now.
        self.active = 0
        #: True once shutdown began: no new requests, keep-alive ends.
        self.draining = False
        self._conns: set[_Conn] = set()
        self._accept_scope: trio.CancelScope | None = None
        self._quiet = trio.Event()

    # ------------------------------------------------------------------ config

    def apply(self, change: Change) -> Applied:
        """Apply one config change through the core (the only way config changes).

        Raises:
            ConfigError: The change is refused; the old config keeps serving.
        """
        applied = self.gateway.apply(change, trio.current_time())
        if applied.changed:
            self.settings = Settings.from_config(self.gateway.config)
            self._slots.unpark_all()
        return applied

    # ----------------------------------------------------------------- serving

    async def serve(
        self,
        listeners: Sequence[tuple[trio.SocketListener, ssl.SSLContext | None]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on every listener until :meth:`shutdown`, then drain.

        Returns after the drain: every connection closed, or ``grace`` elapsed.
        """
        async with trio.open_nursery() as conns:
            async with trio.open_nursery() as front:
                self._accept_scope = front.cancel_scope
                for listener, tls in listeners:
                    front.start_soon(self._accept_loop, listener, tls, conns)
                front.start_soon(self._timer, front)
                task_status.started()
            for listener, _ in listeners:
                await listener.aclose()
            with trio.move_on_after(self.settings.grace):
                while self.active:
                    await self._quiet.wait()
            conns.cancel_scope.cancel()
        self.pool.close_all()
        if self.access_log:
            self.access_log.flush()

    def shutdown(self) -> None:
        """Stop accepting, end idle keep-alive connections, let requests finish."""
        self.draining = True
        if self._accept_scope is not None:
            self._accept_scope.cancel()
        for conn in self._conns:
            if conn.kind is Wait.IDLE:
                conn.scope.cancel()
        if not self.active:
            self._quiet.set()

    async def _accept_loop(
        self, listener: trio.SocketListener, tls: ssl.SSLContext | None, conns: trio.Nursery
    ) -> None:
        while True:
            # Back-pressure: past max_connections, accept waits (the kernel's
            # backlog queues new clients) instead of failing anything.
            while self.active >= self.settings.max_connections:
                await self._slots.park()
            try:
                stream = await listener.accept()
            except OSError as exc:  # EMFILE and friends: wait, never crash the worker
                log.warning("accept failed: %s", exc)
                await trio.sleep(0.1)
                continue
            self.active += 1
            conns.start_soon(self._connection, stream, tls)

    async def _timer(self, nursery: trio.Nursery) -> None:
        """Connection deadlines (every ``SWEEP`` seconds); active probes when the
        core says so; pool expiry and access log flush a few times a second."""
        chores = 0.0
        while True:
            now = trio.current_time()
            for conn in expired(self._conns, monotonic()):
                if conn.fired is Wait.UPSTREAM:
                    if conn.upstream is not None:
                        conn.upstream.close()  # the pending read fails at once
                        conn.upstream = None
                else:
                    conn.scope.cancel()
            if now >= chores:
                chores = now + 0.2
                for cmd in self.gateway.tick(now):
                    nursery.start_soon(self._probe, cmd)
                self.pool.expire(monotonic())  # pooled connections live on monotonic time
                if self.access_log:
                    self.access_log.flush()
            wake = now + SWEEP
            deadline = self.gateway.next_deadline()
            if deadline is not None:
                wake = max(min(wake, deadline), now + 0.005)
            await trio.sleep_until(wake)

    async def _probe(self, cmd: StartProbe) -> None:
        service = self.gateway.config.services.get(cmd.service)
        reason = await probe(cmd, self.pool, service.ca if service else None)
        event: ProbeSucceeded | ProbeFailed = (
            ProbeSucceeded(service=cmd.service, endpoint=cmd.endpoint)
            if reason is None
            else ProbeFailed(service=cmd.service, endpoint=cmd.endpoint, reason=reason)
        )
        self.gateway.probe_result(event, trio.current_time())

    # ------------------------------------------------------------- connection

    async def _connection(self, stream: trio.SocketStream, tls: ssl.SSLContext | None) -> None:
        client = "-"
        conn = _Conn()
        self._conns.add(conn)
        try:
            try:
                client = stream.socket.getpeername()[0]
                stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                return
            io: trio.abc.Stream = stream
            scheme = "http"
            if tls is not None:
                scheme = "https"
                tls_stream = trio.SSLStream(stream, tls, server_side=True, https_compatible=True)
                try:
                    with trio.fail_after(self.settings.header_read):
                        await tls_stream.do_handshake()
                except trio.TooSlowError:
                    return
                io = tls_stream
            with conn.scope:
                await self._cycles(io, client, scheme, conn)
            if conn.scope.cancelled_caught:
                await self._expired(io, client, conn)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError):
            pass  # the client went away; nothing to answer
        except Exception:
            log.exception("connection from %s failed", client)
        finally:
            self._conns.discard(conn)
            self.active -= 1
            self._slots.unpark()
            if self.draining and not self.active:
                self._quiet.set()
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _expired(self, stream: trio.abc.Stream, client: str, conn: _Conn) -> None:
        """A client-side deadline cut the connection: answer 408 where one is due."""
        fired, ex = conn.fired, conn.exchange
        if fired is Wait.HEAD:
            ex = Exchange(time.time(), client, "-", "-", self.ids.next())
            err: HttpError | None = HttpError(408, "request head not received in time")
        elif ex is None:
            return  # idle keep-alive end, or drain: just close
        elif fired is Wait.CLIENT and not ex.response_started:
            err = HttpError(408, "request body not received in time")
        else:
            err = None  # a client that stopped reading its response: just close
        if err is not None:
            with trio.move_on_after(1):
                await self.send_error(stream, None, err, ex, head=False)
        self._log(ex)

    async def _cycles(self, stream: trio.abc.Stream, client: str, scheme: str, conn: _Conn) -> None:
        s = self.settings
        parser = self._server_parser(s.max_header_bytes)
        scanner = HeadScanner(s.max_request_line, s.max_header_bytes)
        first = True
        while not self.draining or first:
            s = self.settings
            scanner.max_request_line = s.max_request_line
            scanner.max_header_bytes = s.max_header_bytes
            try:
                head = await read_head(
                    stream,
                    parser,
                    scanner,
                    conn,
                    first=first,
                    header_read=s.header_read,
                    idle=s.idle,
                )
            except (HttpError, ParseError) as exc:
                await self._bad_head(stream, client, conn, exc)
                return
            if head is None:
                return
            first = False
            if not await self._request(
                stream, parser, head, client=client, scheme=scheme, conn=conn
            ):
                return
            if not parser.start_next_cycle():
                return

    async def _bad_head(
        self, stream: trio.abc.Stream, client: str, timer: Timer, exc: HttpError | ParseError
    ) -> None:
        """Answer a head that broke a limit or the protocol; the connection closes."""
        timer.disarm()
        error = exc if isinstance(exc, HttpError) else HttpError(exc.status, exc.detail)
        ex = Exchange(time.time(), client, "-", "-", self.ids.next())
        await self.send_error(stream, None, error, ex, head=False)
        self._log(ex)

    async def _request(
        self,
        stream: trio.abc.Stream,
        parser: ServerParser,
        head: RequestHead,
        *,
        client: str,
        scheme: str,
        conn: _Conn,
    ) -> bool:
        """Serve one request. Returns whether the connection may carry another."""
        rid = self.ids.next()
        method = head.method.decode("ascii")
        target = head.target.decode("latin-1")
        ex = conn.exchange = Exchange(time.time(), client, method, target, rid)
        is_head = method == "HEAD"
        try:
            length, chunked, _ = check_framing(head.headers, head.http_version)
            if not chunked and not length:
                parser.next_event()  # the (empty) body's end: the request is complete
            request = Request(
                method=method,
                target=target,
                headers=core_headers(head.headers),
                client=client,
                scheme=scheme,
                request_id=rid,
            )
            try:
                cmd = self.gateway.decide(request, trio.current_time())
            except GatewayError as exc:
                ex.route = exc.route or ex.route  # a 503 still names its route
                raise error_from_gateway(exc) from None
            ex.request_id = cmd.request_id
            ex.route = cmd.route
            if isinstance(cmd, Respond):
                await self._respond(stream, parser, cmd, ex=ex, is_head=is_head, timer=conn)
                return not self.draining and parser.keep_alive
            body = -1 if chunked else (length or None)
            return await _proxy.forward(
                self, stream, parser, conn, fwd=cmd, ex=ex, method=head.method, length=body
            )
        except HttpError as err:
            if not ex.response_started:
                await self.send_error(stream, parser, err, ex, head=is_head)
            return not err.close and not self.draining and parser.keep_alive
        except _proxy.AbortConnection:
            return False
        except Exception:
            log.exception("request %s failed", ex.request_id)
            if not ex.response_started:
                internal = HttpError(500, "internal error")
                await self.send_error(stream, parser, internal, ex, head=is_head)
            return False
        finally:
            if not conn.scope.cancel_called:  # else _expired logs it, with its 408
                conn.exchange = None
                self._log(ex)

    async def _respond(
        self,
        stream: trio.abc.Stream,
        parser: ServerParser,
        cmd: Respond,
        *,
        ex: Exchange,
        is_head: bool,
        timer: Timer,
    ) -> None:
        out = _answers.respond(parser, cmd, ex, head=is_head, close=self.draining, date=self.date)
        # Ready sockets do not yield (trio/_body.py): a pipelining client lets others run here.
        await trio.lowlevel.checkpoint()
        await _proxy.to_client(stream, out, timer, self.settings.idle)

    async def send_error(
        self,
        stream: trio.abc.Stream,
        parser: ServerParser | None,
        err: HttpError,
        ex: Exchange,
        *,
        head: bool,
    ) -> None:
        """Answer with the JSON error body (best effort: the client may be gone)."""
        await _answers.send_error(stream, parser, err, ex, head=head, date=self.date)

    def _log(self, ex: Exchange) -> None:
        if self.access_log is not None:
            self.access_log.log(ex, time.time())

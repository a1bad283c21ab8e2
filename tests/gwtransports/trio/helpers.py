"""Fixtures for the trio gateway tests: in-process upstreams, a gateway on a
free port, and a small HTTP/1.1 client that shows exactly what came back.

Everything listens on 127.0.0.1 port 0. Each test body is an ``async`` function
run with :func:`run`; waits are bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import h11
import trio

from gwcore.config import Config, from_dict
from gwcore.gateway import Gateway
from gwtransports._accesslog import AccessLog
from gwtransports.trio.server import Server, open_listeners

Handler = Callable[
    ["Upstream", trio.SocketStream, h11.Connection, h11.Request, bytes], Awaitable[None]
]


def run(fn: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    """Run an async test body under trio with an overall deadline."""

    async def main() -> None:
        with trio.fail_after(timeout):
            await fn()

    trio.run(main)


async def bind() -> tuple[trio.SocketListener, int]:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return trio.SocketListener(sock), sock.getsockname()[1]


async def send_response(
    stream: trio.SocketStream,
    conn: h11.Connection,
    status: int = 200,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    hdrs = headers if headers is not None else [("content-length", str(len(body)))]
    out = conn.send(h11.Response(status_code=status, headers=hdrs)) or b""
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(out)


async def echo_handler(
    up: Upstream, stream: trio.SocketStream, conn: h11.Connection, req: h11.Request, body: bytes
) -> None:
    """Answers with ``name method target`` and the body size."""
    text = f"{up.name} {req.method.decode()} {req.target.decode()} {len(body)}".encode()
    await send_response(stream, conn, 200, text)


class Upstream:
    """A trio + h11 upstream with a pluggable handler.

    Attributes:
        connections: Connections accepted.
        requests: Request heads received (method, target, headers dict).
        body_bytes: Request body bytes received in total (counted, not kept,
            when ``keep_body`` is false).
    """

    def __init__(self, name: str = "up", handler: Handler = echo_handler, keep_body: bool = True):
        self.name = name
        self.handler = handler
        self.keep_body = keep_body
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.body_bytes = 0
        self.port = 0
        self._scope = trio.CancelScope()

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listener, self.port = await bind()
        with self._scope:
            async with trio.open_nursery() as nursery:
                task_status.started(self.port)
                await trio.serve_listeners(self._conn, [listener], handler_nursery=nursery)

    def kill(self) -> None:
        """Stop listening and drop every connection at once."""
        self._scope.cancel()

    async def _conn(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                req = await next_event(conn, stream)
                if not isinstance(req, h11.Request):
                    return
                self.requests.append(
                    (
                        req.method.decode(),
                        req.target.decode(),
                        {k.decode(): v.decode() for k, v in req.headers},
                    )
                )
                parts = []
                while True:
                    ev = await next_event(conn, stream)
                    if isinstance(ev, h11.Data):
                        self.body_bytes += len(ev.data)
                        if self.keep_body:
                            parts.append(bytes(ev.data))
                    elif isinstance(ev, h11.EndOfMessage):
                        break
                    else:
                        return
                await self.handler(self, stream, conn, req, b"".join(parts))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
            return
        finally:
            await trio.aclose_forcefully(stream)


async def next_event(conn: h11.Connection, stream: trio.abc.Stream) -> Any:
    while True:
        ev = conn.next_event()
        if ev is not h11.NEED_DATA:
            return ev
        conn.receive_data(bytes(await stream.receive_some(65536)))


def make_config(
    services: dict[str, list[int]] | None = None,
    routes: dict[str, dict[str, Any]] | None = None,
    services_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> Config:
    """A config listening on 127.0.0.1:0 with services given as upstream ports
    (``services_extra``: more services, written out in full)."""
    doc: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "services": {
            name: {"endpoints": [{"url": f"http://127.0.0.1:{p}"} for p in ports]}
            for name, ports in (services or {}).items()
        },
        "routes": routes or {},
        "access_log": "off",
    }
    doc["services"].update(services_extra or {})
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key].update(value)
        else:
            doc[key] = value
    return from_dict(doc)


class RunningServer(Server):
    """A :class:`Server` that knows the port it listens on (tests only)."""

    port: int = 0


@asynccontextmanager
async def gateway(
    config: Config, access_log: AccessLog | None = None
) -> AsyncIterator[RunningServer]:
    """A running gateway; ``server.port`` is where it listens."""
    server = RunningServer(Gateway(config, rng=random.Random(1)), access_log=access_log)
    listeners = await open_listeners(config.listen)
    server.port = listeners[0][0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, listeners)
        try:
            yield server
        finally:
            server.shutdown()


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP/1.1 client on one connection (h11)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Response:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        hdrs = [("host", "test.local"), *(headers or [])]
        if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hdrs):
            hdrs.append(("content-length", str(len(body))))
        out = self.conn.send(h11.Request(method=method, target=target, headers=hdrs)) or b""
        if body:
            out += self.conn.send(h11.Data(data=body)) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(out)
        resp = await next_event(self.conn, self.stream)
        while isinstance(resp, h11.InformationalResponse):
            resp = await next_event(self.conn, self.stream)
        parts = []
        while True:
            ev = await next_event(self.conn, self.stream)
            if isinstance(ev, h11.Data):
                parts.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"unexpected {ev!r}")
        headers_out = {k.decode(): v.decode() for k, v in resp.headers}
        return Response(resp.status_code, headers_out, b"".join(parts))

    async def aclose(self) -> None:
        await self.stream.aclose()


async def get(port: int, target: str, **kw: Any) -> Response:
    """One request on a fresh connection."""
    client = await Client.open(port)
    try:
        return await client.request("GET", target, **kw)
    finally:
        await client.aclose()


async def raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes, read until the gateway closes the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(data)
    chunks = []
    with trio.fail_after(timeout):
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    await stream.aclose()
    return b"".join(chunks)

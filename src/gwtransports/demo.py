"""A small demo upstream for ``gw serve --demo``: an echo service on trio + h11.

``GET /anything`` answers JSON describing the request as the upstream saw it
(method, path, query, headers, body size), which shows the gateway's rewrite and
``X-Forwarded-*`` headers at work. ``GET /bytes/N`` streams N bytes (for trying
large downloads). Request bodies are counted, never kept.
"""

from __future__ import annotations

import json
import socket

import h11
import trio

__all__ = ["EchoService", "serve_demo"]

_CHUNK = b"x" * 65536


class EchoService:
    """The echo upstream.

    Attributes:
        connections: Connections accepted so far.
        requests: Requests answered so far.
    """

    def __init__(self, name: str = "demo") -> None:
        self.name = name
        self.connections = 0
        self.requests = 0

    async def serve(self, listener: trio.SocketListener) -> None:
        await trio.serve_listeners(self.handle, [listener])

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                req = await _next(conn, stream)
                if not isinstance(req, h11.Request):
                    return
                size = 0
                while True:
                    ev = await _next(conn, stream)
                    if isinstance(ev, h11.Data):
                        size += len(ev.data)
                    elif isinstance(ev, h11.EndOfMessage):
                        break
                    else:
                        return
                self.requests += 1
                await self.respond(stream, conn, req, size)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    async def respond(
        self, stream: trio.SocketStream, conn: h11.Connection, req: h11.Request, size: int
    ) -> None:
        target = req.target.decode("latin-1")
        path, _, query = target.partition("?")
        if path.startswith("/bytes/") and path[7:].isdigit():
            n = int(path[7:])
            headers = [("content-length", str(n)), ("content-type", "application/octet-stream")]
            await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
            while n > 0:
                piece = _CHUNK if n >= len(_CHUNK) else _CHUNK[:n]
                n -= len(piece)
                await stream.send_all(conn.send(h11.Data(data=piece)) or b"")
            await stream.send_all(conn.send(h11.EndOfMessage()) or b"")
            return
        doc = {
            "service": self.name,
            "method": req.method.decode(),
            "path": path,
            "query": query,
            "headers": {k.decode(): v.decode("latin-1") for k, v in req.headers},
            "body_bytes": size,
        }
        body = (json.dumps(doc, indent=2) + "\n").encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        out = conn.send(h11.Response(status_code=200, headers=headers)) or b""
        if req.method != b"HEAD":
            out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(out)


async def _next(conn: h11.Connection, stream: trio.SocketStream) -> object:
    while True:
        ev = conn.next_event()
        if ev is not h11.NEED_DATA:
            return ev
        conn.receive_data(await stream.receive_some(65536))


async def serve_demo(
    host: str = "127.0.0.1",
    port: int = 9001,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the echo service until cancelled; ``task_status`` gets the bound port."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    await sock.bind((host, port))
    sock.listen(128)
    listener = trio.SocketListener(sock)
    task_status.started(sock.getsockname()[1])
    await EchoService().serve(listener)

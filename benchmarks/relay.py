"""The floor cost of a trio + h11 proxy: a bare relay that does nothing else.

Every client request goes to one upstream over a pooled keep-alive connection
(one per client connection, opened lazily, kept for its life): parse with h11,
re-send with h11, copy the response back. No routing, no header edits, no
limits, no logging. ``benchmarks/proxy.py`` compares ``gw serve`` against it.

    python benchmarks/relay.py --listen 8090 --upstream 127.0.0.1:8091
"""

from __future__ import annotations

import argparse
import socket

import h11
import trio

HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"trailer"}


async def _next(conn: h11.Connection, stream: trio.SocketStream) -> object:
    while True:
        ev = conn.next_event()
        if ev is not h11.NEED_DATA:
            return ev
        conn.receive_data(await stream.receive_some(65536))


async def relay(stream: trio.SocketStream, host: str, port: int) -> None:
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = h11.Connection(h11.SERVER)
    upstream: trio.SocketStream | None = None
    up = h11.Connection(h11.CLIENT)
    try:
        while True:
            req = await _next(client, stream)
            if not isinstance(req, h11.Request):
                return
            if upstream is None:
                upstream = await trio.open_tcp_stream(host, port)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            headers = [(k, v) for k, v in req.headers if k not in HOP]
            out = up.send(h11.Request(method=req.method, target=req.target, headers=headers)) or b""
            while True:
                ev = await _next(client, stream)
                if isinstance(ev, h11.Data):
                    out += up.send(ev) or b""
                elif isinstance(ev, h11.EndOfMessage):
                    out += up.send(ev) or b""
                    break
                else:
                    return
            await upstream.send_all(out)
            resp = await _next(up, upstream)
            while isinstance(resp, h11.InformationalResponse):
                resp = await _next(up, upstream)
            if not isinstance(resp, h11.Response):
                return
            headers = [(k, v) for k, v in resp.headers if k not in HOP]
            out = client.send(h11.Response(status_code=resp.status_code, headers=headers)) or b""
            while True:
                ev = await _next(up, upstream)
                if isinstance(ev, h11.Data):
                    out += client.send(ev) or b""
                    if len(out) > 65536:
                        await stream.send_all(out)
                        out = b""
                elif isinstance(ev, h11.EndOfMessage):
                    out += client.send(ev) or b""
                    break
                else:
                    return
            await stream.send_all(out)
            if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
                return
            if up.our_state is not h11.DONE or up.their_state is not h11.DONE:
                return
            client.start_next_cycle()
            up.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError, OSError):
        return
    finally:
        if upstream is not None:
            await trio.aclose_forcefully(upstream)
        await trio.aclose_forcefully(stream)


async def main(listen: int, host: str, port: int) -> None:
    listeners = await trio.open_tcp_listeners(listen, host="127.0.0.1", backlog=1024)

    async def handle(stream: trio.SocketStream) -> None:
        await relay(stream, host, port)

    await trio.serve_listeners(handle, listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port")
    args = parser.parse_args()
    up_host, _, up_port = args.upstream.rpartition(":")
    trio.run(main, args.listen, up_host, int(up_port))

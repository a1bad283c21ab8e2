"""Proxying through the trio gateway: routing, rewrite, headers, keep-alive,
framing (chunked, Content-Length, HEAD, 204/304, 100-continue)."""

from __future__ import annotations

import time

import h11
import trio

from tests.gwtransports.trio.helpers import (
    Client,
    Upstream,
    gateway,
    get,
    make_config,
    next_event,
    raw,
    run,
    send_response,
)


def test_routing_rewrite_and_forwarded_headers() -> None:
    async def main() -> None:
        up = Upstream("users")
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                {"users": [port]},
                {
                    "u": {"prefix": "/user/", "rewrite": "/v2/", "service": "users"},
                    "hi": {"prefix": "/hello", "respond": {"status": 200, "body": "hi"}},
                },
            )
            async with gateway(cfg) as gw:
                resp = await get(
                    gw.port, "/user/42/profile?x=1&y=2", headers=[("x-forwarded-for", "10.9.9.9")]
                )
                assert resp.status == 200
                assert resp.body == b"users GET /v2/42/profile?x=1&y=2 0"
                _, _, headers = up.requests[-1]
                assert headers["host"] == "test.local"
                assert headers["x-forwarded-for"] == "10.9.9.9, 127.0.0.1"
                assert headers["x-forwarded-proto"] == "http"
                assert headers["x-forwarded-host"] == "test.local"
                assert "gw" in headers["via"]
                assert len(headers["x-request-id"]) >= 8
                hello = await get(gw.port, "/hello")
                assert (hello.status, hello.body) == (200, b"hi")
                missing = await get(gw.port, "/users")
                assert missing.status == 404
                doc = missing.json()
                assert doc["error"] == "no_route" and doc["request_id"] and doc["detail"]
            nursery.cancel_scope.cancel()

    run(main)


def test_client_request_id_kept_and_hop_by_hop_removed() -> None:
    async def handler(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        await send_response(
            stream,
            conn,
            200,
            b"ok",
            [
                ("content-length", "2"),
                ("connection", "x-private"),
                ("x-private", "1"),
                ("keep-alive", "5"),
            ],
        )

    async def main() -> None:
        up = Upstream(handler=handler)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                resp = await get(
                    gw.port,
                    "/a",
                    headers=[
                        ("x-request-id", "abc-123"),
                        ("connection", "x-secret"),
                        ("x-secret", "s"),
                        ("te", "trailers"),
                    ],
                )
                assert resp.status == 200
                _, _, headers = up.requests[-1]
                assert headers["x-request-id"] == "abc-123"
                assert "x-secret" not in headers and "te" not in headers
                assert "x-private" not in resp.headers and "keep-alive" not in resp.headers
            nursery.cancel_scope.cancel()

    run(main)


def test_keep_alive_reuse_on_both_sides() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                client = await Client.open(gw.port)
                for i in range(20):
                    resp = await client.request("GET", f"/n/{i}")
                    assert resp.status == 200
                    assert resp.body.endswith(f"/n/{i} 0".encode())
                await client.aclose()
                assert len(up.requests) == 20
                assert up.connections == 1  # one pooled upstream connection carried all
                assert gw.pool.opened == 1
            nursery.cancel_scope.cancel()

    run(main)


def test_chunked_both_ways_head_204_304() -> None:
    async def handler(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        path = req.target.decode()
        if path == "/chunked":
            out = (
                conn.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")]))
                or b""
            )
            for piece in (b"abc", b"defg", b"h"):
                out += conn.send(h11.Data(data=piece)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(out)
        elif path == "/204":
            await send_response(stream, conn, 204, b"", [])
        elif path == "/304":
            await send_response(stream, conn, 304, b"", [("etag", '"x"')])
        elif req.method == b"HEAD":
            await send_response(stream, conn, 200, b"", [("content-length", "1234")])
        else:
            await send_response(stream, conn, 200, b"got %d" % len(body))

    async def main() -> None:
        up = Upstream(handler=handler)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                client = await Client.open(gw.port)
                resp = await client.request("GET", "/chunked")
                assert (resp.status, resp.body) == (200, b"abcdefgh")
                assert resp.headers.get("transfer-encoding") == "chunked"
                resp = await client.request(
                    "POST", "/up", headers=[("transfer-encoding", "chunked")], body=b"0123456789"
                )
                assert resp.body == b"got 10"
                _, _, headers = up.requests[-1]
                assert headers.get("transfer-encoding") == "chunked"
                resp = await client.request("HEAD", "/head")
                assert resp.status == 200 and resp.body == b""
                assert resp.headers["content-length"] == "1234"
                resp = await client.request("GET", "/204")
                assert (resp.status, resp.body) == (204, b"")
                resp = await client.request("GET", "/304")
                assert (resp.status, resp.body) == (304, b"")
                # the connection is still good after all of these
                resp = await client.request("POST", "/cl", body=b"xyz")
                assert resp.body == b"got 3"
                await client.aclose()
                assert up.connections == 1
            nursery.cancel_scope.cancel()

    run(main)


def test_expect_100_continue() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
                await stream.send_all(
                    b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n"
                    b"expect: 100-continue\r\n\r\n"
                )
                first = await stream.receive_some(1000)
                assert first.startswith(b"HTTP/1.1 100 ")
                await stream.send_all(b"hello")
                conn = h11.Connection(h11.CLIENT)
                conn.send(
                    h11.Request(
                        method="POST", target="/x", headers=[("host", "a"), ("content-length", "5")]
                    )
                )
                conn.send(h11.Data(data=b"hello"))
                conn.send(h11.EndOfMessage())
                rest = first.split(b"\r\n\r\n", 1)[1]
                if rest:  # b"" would mean EOF to h11
                    conn.receive_data(rest)
                resp = await next_event(conn, stream)
                assert resp.status_code == 200
                body = await next_event(conn, stream)
                assert body.data.endswith(b" 5")
                _, _, headers = up.requests[-1]
                assert "expect" not in headers
                await stream.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_http10_client_and_pipelining() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                out = await raw(gw.port, b"GET /old HTTP/1.0\r\n\r\n")
                assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"GET /old 0")
                two = (
                    b"GET /p1 HTTP/1.1\r\nhost: a\r\n\r\n"
                    b"GET /p2 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"
                )
                out = await raw(gw.port, two)
                assert out.count(b"HTTP/1.1 200") == 2
                assert b"GET /p1 0" in out and out.endswith(b"GET /p2 0")
            nursery.cancel_scope.cancel()

    run(main)


def test_pooled_connections_age_on_the_clock_checkout_reads() -> None:
    # Checkout measures idle time with time.monotonic(); a connection checked
    # in on the event loop's clock (another origin) would never look idle, and
    # would never be checked for a close by the upstream before reuse.
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                client = await Client.open(gw.port)
                assert (await client.request("GET", "/a")).status == 200
                expiry = gw.pool.state.next_expiry()
                assert expiry is not None
                idle_timeout = gw.pool.state.idle_timeout
                assert abs(expiry - (time.monotonic() + idle_timeout)) < idle_timeout
                await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)

"""Every error status the gateway answers with, each with its JSON body, and
request smuggling attempts on raw sockets."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from gwtransports._accesslog import AccessLog
from tests.gwtransports.trio.helpers import (
    Client,
    RunningServer,
    Upstream,
    gateway,
    get,
    make_config,
    raw,
    run,
)


def _status_and_body(out: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body.split(b"\r\n\r\n")[0]) if body else {}


async def _with_upstream(
    body: Callable[[RunningServer, Upstream], Awaitable[None]], **extra: Any
) -> None:
    up = Upstream()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(up.run)
        cfg = make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}}, **extra)
        async with gateway(cfg) as gw:
            await body(gw, up)
        nursery.cancel_scope.cancel()


SMUGGLING = [
    # Content-Length and Transfer-Encoding together (RFC 9112 6.3)
    b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
    # duplicate, differing Content-Length
    b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\ncontent-length: 40\r\n\r\n"
    b"abcdGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
    # bad chunk size
    b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
    # obs-fold hiding a header
    b"GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n transfer-encoding: chunked\r\n\r\n"
    b"GET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
    # Transfer-Encoding in an HTTP/1.0 request
    b"POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    b"GET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
    # a malformed request line
    b"GET / HTTP/1.1 extra\r\nhost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n",
]


@pytest.mark.parametrize(
    "payload",
    SMUGGLING,
    ids=["cl+te", "dup-cl", "chunk-size", "obs-fold", "te-1.0", "request-line"],
)
def test_smuggling_is_refused_and_connection_closed(payload: bytes) -> None:
    async def body(gw, up):  # type: ignore[no-untyped-def]
        out = await raw(gw.port, payload)
        status, doc = _status_and_body(out)
        assert status == 400
        assert doc["error"] == "bad_request" and doc["request_id"]
        assert out.startswith(b"HTTP/1.1 400 ")
        assert b"}HTTP/1.1" not in out  # nothing after the 400, connection closed
        assert b"connection: close" in out.lower()
        assert all(target != "/smuggled" for _, target, _ in up.requests)

    run(lambda: _with_upstream(body))


@pytest.mark.parametrize("version", [b"2.0", b"3.0", b"0.9"])
def test_other_major_versions_get_505_and_are_not_proxied(version: bytes) -> None:
    async def body(gw, up):  # type: ignore[no-untyped-def]
        out = await raw(gw.port, b"GET /x HTTP/" + version + b"\r\nhost: a\r\n\r\n")
        status, doc = _status_and_body(out)
        assert status == 505
        assert doc["error"] == "http_version_not_supported"
        assert "HTTP/" + version.decode() in doc["detail"]
        assert up.requests == []
        # a later minor version of HTTP/1 is HTTP/1 (RFC 9110 2.5): served
        ok = await raw(gw.port, b"GET /x HTTP/1.2\r\nhost: a\r\nconnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ")

    run(lambda: _with_upstream(body))


def test_options_star_is_answered_by_the_gateway_not_the_upstream() -> None:
    async def body(gw, up):  # type: ignore[no-untyped-def]
        out = await raw(gw.port, b"OPTIONS * HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ")
        assert b"\r\nallow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n" in out
        assert up.requests == []

    run(lambda: _with_upstream(body))


def test_405_carries_allow_with_the_methods_that_match() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            routes: dict[str, dict[str, Any]] = {
                "read": {"prefix": "/api", "service": "s", "methods": ["GET", "HEAD"]},
                "write": {"prefix": "/api", "service": "s", "methods": ["PUT"]},
            }
            async with gateway(make_config({"s": [port]}, routes)) as gw:
                out = await raw(
                    gw.port, b"POST /api/x HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"
                )
                status, doc = _status_and_body(out)
                assert (status, doc["error"]) == (405, "method_not_allowed")
                assert b"\r\nallow: GET, HEAD, PUT\r\n" in out
                assert up.requests == []
            nursery.cancel_scope.cancel()

    run(main)


def test_limits_414_431_413() -> None:
    async def body(gw, up):  # type: ignore[no-untyped-def]
        status, doc = _status_and_body(
            await raw(gw.port, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n")
        )
        assert (status, doc["error"]) == (414, "uri_too_long")
        many = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 50) for i in range(40))
        status, doc = _status_and_body(
            await raw(gw.port, b"GET / HTTP/1.1\r\nhost: a\r\n" + many + b"\r\n")
        )
        assert (status, doc["error"]) == (431, "headers_too_large")
        big = b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5000\r\n\r\n"
        status, doc = _status_and_body(await raw(gw.port, big))
        assert (status, doc["error"]) == (413, "payload_too_large")
        client = await Client.open(gw.port)
        resp = await client.request(
            "POST", "/", headers=[("transfer-encoding", "chunked")], body=b"x" * 5000
        )
        assert resp.status == 413 and resp.json()["error"] == "payload_too_large"
        await client.aclose()
        ok = await get(gw.port, "/fine")
        assert ok.status == 200

    run(
        lambda: _with_upstream(
            body, limits={"max_request_line": 200, "max_header_bytes": 1024, "max_body": 1000}
        )
    )


def test_route_max_body_overrides_limit() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            routes: dict[str, dict[str, Any]] = {
                "small": {"prefix": "/small", "service": "s", "max_body": 10},
                "r": {"prefix": "/", "service": "s"},
            }
            async with gateway(make_config({"s": [port]}, routes)) as gw:
                client = await Client.open(gw.port)
                assert (await client.request("POST", "/big", body=b"x" * 100)).status == 200
                await client.aclose()
                client = await Client.open(gw.port)
                assert (await client.request("POST", "/small", body=b"x" * 100)).status == 413
                await client.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_slowloris_gets_408_and_does_not_delay_others() -> None:
    async def body(gw, up):  # type: ignore[no-untyped-def]
        async def slow(results: list[bytes]) -> None:
            stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
            out = b""
            try:
                for byte in b"GET / HTTP/1.1\r\nhost: a\r\nx-slow: " + b"y" * 100:
                    await stream.send_all(bytes([byte]))
                    await trio.sleep(0.05)  # the attacker's pace, not synchronisation
            except trio.BrokenResourceError:
                pass
            while chunk := await stream.receive_some(4096):
                out += chunk
            await stream.aclose()
            results.append(out)

        results: list[bytes] = []
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(slow, results)
            # meanwhile, normal clients are served at once
            for _ in range(20):
                start = trio.current_time()
                assert (await get(gw.port, "/")).status == 200
                assert trio.current_time() - start < 0.5  # not held up by the slow ones
        assert len(results) == 5
        for out in results:
            status, doc = _status_and_body(out)
            assert (status, doc["error"]) == (408, "request_timeout")

    run(lambda: _with_upstream(body, timeouts={"header_read": "600ms"}))


def test_502_503_504() -> None:
    async def never(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    async def main() -> None:
        slow = Upstream(handler=never)
        async with trio.open_nursery() as nursery:
            slow_port = await nursery.start(slow.run)
            dead_listener = trio.socket.socket()
            await dead_listener.bind(("127.0.0.1", 0))
            dead_port = dead_listener.getsockname()[1]  # bound, never listening: refused
            cfg = make_config(
                {"dead": [dead_port]},
                {
                    "d": {"prefix": "/dead", "service": "dead"},
                    "s": {"prefix": "/slow", "service": "slow"},
                    "w": {"prefix": "/drain", "service": "drain"},
                },
                services_extra={
                    "slow": {
                        "endpoints": [{"url": f"http://127.0.0.1:{slow_port}"}],
                        "timeouts": {"response": "300ms"},
                        "retries": 0,
                    },
                    "drain": {"endpoints": [{"url": f"http://127.0.0.1:{slow_port}", "weight": 0}]},
                },
            )
            async with gateway(cfg) as gw:
                resp = await get(gw.port, "/dead")
                assert resp.status == 502 and resp.json()["error"] == "bad_gateway"
                resp = await get(gw.port, "/drain")
                assert resp.status == 503 and resp.json()["error"] == "no_healthy_endpoint"
                resp = await get(gw.port, "/slow")
                assert resp.status == 504 and resp.json()["error"] == "upstream_timeout"
            dead_listener.close()
            nursery.cancel_scope.cancel()

    run(main)


def test_503_is_logged_with_the_route_it_matched() -> None:
    out = io.StringIO()

    async def main() -> None:
        cfg = make_config(
            {},
            {"w": {"prefix": "/drain", "service": "drain"}},
            services_extra={"drain": {"endpoints": [{"url": "http://127.0.0.1:9", "weight": 0}]}},
        )
        async with gateway(cfg, access_log=AccessLog(out, "json")) as gw:
            resp = await get(gw.port, "/drain")
            assert resp.status == 503 and resp.json()["error"] == "no_healthy_endpoint"
            resp = await get(gw.port, "/nowhere")
            assert resp.status == 404

    run(main)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["target"], x["status"], x["route"]) for x in lines] == [
        ("/drain", 503, "w"),
        ("/nowhere", 404, "-"),
    ]


def test_upstream_reset_mid_response_closes_client_connection() -> None:
    async def half(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"z" * 1000)
        await stream.aclose()

    async def main() -> None:
        up = Upstream(handler=half)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            async with gateway(
                make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            ) as gw:
                out = await raw(gw.port, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
                head, _, body = out.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200")
                assert b"content-length: 100000" in head
                assert len(body) < 100000  # closed early: the client can tell it is truncated
                # a chunked response would have to end with the last-chunk marker: not sent either
            nursery.cancel_scope.cancel()

    run(main)


def test_body_pause_gets_408_and_is_logged() -> None:
    out = io.StringIO()

    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                {"s": [port]}, {"r": {"prefix": "/", "service": "s"}}, timeouts={"idle": "400ms"}
            )
            async with gateway(cfg, access_log=AccessLog(out, "json")) as gw:
                head = b"POST /slow-body HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\n123"
                status, doc = _status_and_body(await raw(gw.port, head))
                assert (status, doc["error"]) == (408, "request_timeout")
                assert up.body_bytes < 10  # the upstream never got a whole body
            nursery.cancel_scope.cancel()

    run(main)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["target"], x["status"]) for x in lines] == [("/slow-body", 408)]
    assert lines[0]["route"] == "r" and lines[0]["request_id"]

"""Failover, reload under load, active probes, and faults confined to one request."""

from __future__ import annotations

import trio

from gwcore.events import ConfigReplaced
from tests.gwtransports.trio.helpers import (
    Client,
    Upstream,
    gateway,
    get,
    make_config,
    run,
    send_response,
)


def test_one_of_two_upstreams_killed_gets_see_no_5xx() -> None:
    async def main() -> None:
        a, b = Upstream("a"), Upstream("b")
        async with trio.open_nursery() as nursery:
            port_a = await nursery.start(a.run)
            port_b = await nursery.start(b.run)
            cfg = make_config({"s": [port_a, port_b]}, {"r": {"prefix": "/", "service": "s"}})
            async with gateway(cfg) as gw:
                statuses: list[int] = []

                async def client_loop(n: int) -> None:
                    client = await Client.open(gw.port)
                    for i in range(n):
                        statuses.append((await client.request("GET", f"/{i}")).status)
                    await client.aclose()

                await client_loop(10)
                assert a.requests and b.requests  # both in rotation
                a.kill()
                async with trio.open_nursery() as clients:
                    for _ in range(4):
                        clients.start_soon(client_loop, 50)
                assert len(statuses) == 210
                assert all(s == 200 for s in statuses), sorted(set(statuses))
            nursery.cancel_scope.cancel()

    run(main)


def test_reload_under_load_has_zero_failed_requests() -> None:
    async def main() -> None:
        a, b = Upstream("a"), Upstream("b")
        async with trio.open_nursery() as nursery:
            port_a = await nursery.start(a.run)
            port_b = await nursery.start(b.run)
            routes = {"r": {"prefix": "/", "service": "s"}}
            cfg_a = make_config({"s": [port_a]}, routes)
            cfg_b = make_config({"s": [port_b]}, routes)
            async with gateway(cfg_a) as gw:
                bodies: list[bytes] = []
                failures: list[int] = []
                done = trio.Event()

                async def load() -> None:
                    client = await Client.open(gw.port)
                    while not done.is_set():
                        resp = await client.request("POST", "/x", body=b"payload")
                        if resp.status != 200:
                            failures.append(resp.status)
                        bodies.append(resp.body)
                    await client.aclose()

                async with trio.open_nursery() as clients:
                    for _ in range(8):
                        clients.start_soon(load)
                    for i in range(20):  # flip between the two upstreams while clients run
                        gw.apply(ConfigReplaced(config=cfg_b if i % 2 == 0 else cfg_a))
                        seen = len(bodies)
                        with trio.fail_after(10):  # some traffic on each config
                            while len(bodies) < seen + 8:
                                await trio.sleep(0.005)
                    done.set()
                assert failures == []
                assert len(bodies) >= 160
                assert any(x.startswith(b"a ") for x in bodies) and any(
                    x.startswith(b"b ") for x in bodies
                )
            nursery.cancel_scope.cancel()

    run(main)


def test_active_probes_take_a_failing_endpoint_out() -> None:
    async def sick(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        status = 500 if req.target == b"/health" else 200
        await send_response(stream, conn, status, up.name.encode())

    async def main() -> None:
        good, bad = Upstream("good"), Upstream("bad", handler=sick)
        async with trio.open_nursery() as nursery:
            port_good = await nursery.start(good.run)
            port_bad = await nursery.start(bad.run)
            health = {
                "active": {
                    "path": "/health",
                    "interval": "50ms",
                    "timeout": "1s",
                    "unhealthy": 2,
                    "healthy": 2,
                }
            }
            cfg = make_config(
                routes={"r": {"prefix": "/", "service": "s"}},
                services_extra={
                    "s": {
                        "endpoints": [
                            {"url": f"http://127.0.0.1:{p}"} for p in (port_good, port_bad)
                        ],
                        "health": health,
                    }
                },
            )
            async with gateway(cfg) as gw:
                with trio.fail_after(10):
                    while sum(1 for _, t, _ in bad.requests if t == "/health") < 3:
                        await trio.sleep(0.02)
                assert any(t == "/health" for _, t, _ in good.requests)
                for _ in range(10):
                    assert (await get(gw.port, "/x")).body.startswith(b"good ")
            nursery.cancel_scope.cancel()

    run(main)


def test_unexpected_exception_is_a_500_for_that_request_only(caplog) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            async with gateway(
                make_config({"s": [port]}, {"r": {"prefix": "/", "service": "s"}})
            ) as gw:
                real = gw.gateway.decide

                def decide(request, now):  # type: ignore[no-untyped-def]
                    if request.target == "/boom":
                        raise RuntimeError("bug")
                    return real(request, now)

                gw.gateway.decide = decide  # type: ignore[method-assign]
                resp = await get(gw.port, "/boom")
                assert resp.status == 500 and resp.json()["error"] == "internal_error"
                rid = resp.json()["request_id"]
                assert (await get(gw.port, "/fine")).status == 200
                assert any(rid in r.getMessage() for r in caplog.records)
            nursery.cancel_scope.cancel()

    run(main)


def test_stale_pooled_connection_is_replaced_without_an_endpoint_failure() -> None:
    async def close_after_answer(up, stream, conn, req, body):  # type: ignore[no-untyped-def]
        # Answers as if keeping the connection, then closes it: what an upstream
        # with a short keep-alive timeout does while the gateway holds it idle.
        await send_response(stream, conn, 200, b"ok")
        await stream.aclose()

    async def main() -> None:
        up = Upstream(handler=close_after_answer)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                routes={"r": {"prefix": "/", "service": "s"}},
                services_extra={
                    "s": {
                        "endpoints": [{"url": f"http://127.0.0.1:{port}"}],
                        "retries": 0,
                        "health": {"passive": {"consecutive_failures": 1}},
                    }
                },
            )
            async with gateway(cfg) as gw:
                for method in ("GET", "POST"):  # POST: not idempotent, nothing was written
                    for _ in range(5):
                        client = await Client.open(gw.port)
                        resp = await client.request(method, "/x")
                        await client.aclose()
                        assert resp.status == 200  # one failure would eject the endpoint
                assert up.connections == 10  # every request needed a fresh connection
            nursery.cancel_scope.cancel()

    run(main)


def test_max_connections_applies_back_pressure() -> None:
    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                {"s": [port]}, {"r": {"prefix": "/", "service": "s"}}, limits={"max_connections": 2}
            )
            async with gateway(cfg) as gw:
                first, second = await Client.open(gw.port), await Client.open(gw.port)
                assert (await first.request("GET", "/1")).status == 200
                assert (await second.request("GET", "/2")).status == 200
                third = await Client.open(gw.port)  # the kernel queues it; accept waits
                served = trio.Event()

                async def ask() -> None:
                    assert (await third.request("GET", "/3")).status == 200
                    served.set()

                nursery.start_soon(ask)
                with trio.move_on_after(0.3):
                    await served.wait()
                assert not served.is_set()  # waiting, not failed
                await first.aclose()  # a slot frees up
                with trio.fail_after(5):
                    await served.wait()
                await second.aclose()
                await third.aclose()
            nursery.cancel_scope.cancel()

    run(main)

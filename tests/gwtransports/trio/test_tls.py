"""TLS termination on a listener (trustme certificates) and https upstreams
verified against a configured CA."""

from __future__ import annotations

import ssl
from pathlib import Path

import h11
import trio

from tests.gwtransports.trio.helpers import (
    Upstream,
    bind,
    gateway,
    get,
    make_config,
    next_event,
    run,
    send_response,
)


def test_tls_termination_with_alpn(tls_files: tuple[Path, Path, Path]) -> None:
    chain, key, ca = tls_files

    async def main() -> None:
        up = Upstream()
        async with trio.open_nursery() as nursery:
            port = await nursery.start(up.run)
            cfg = make_config(
                {"s": [port]},
                {"r": {"prefix": "/", "service": "s"}},
                listen=[{"address": "127.0.0.1:0", "tls": {"cert": str(chain), "key": str(key)}}],
            )
            async with gateway(cfg) as gw:
                ctx = ssl.create_default_context(cafile=str(ca))
                ctx.set_alpn_protocols(["http/1.1"])
                tcp = await trio.open_tcp_stream("127.0.0.1", gw.port)
                stream = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1")
                await stream.do_handshake()
                assert stream.selected_alpn_protocol() == "http/1.1"
                conn = h11.Connection(h11.CLIENT)
                for i in range(3):  # keep-alive over TLS
                    if i:
                        conn.start_next_cycle()
                    await stream.send_all(
                        (
                            conn.send(
                                h11.Request(method="GET", target=f"/t{i}", headers=[("host", "a")])
                            )
                            or b""
                        )
                        + (conn.send(h11.EndOfMessage()) or b"")
                    )
                    resp = await next_event(conn, stream)
                    assert resp.status_code == 200
                    assert (await next_event(conn, stream)).data.endswith(f"/t{i} 0".encode())
                    assert isinstance(await next_event(conn, stream), h11.EndOfMessage)
                _, _, headers = up.requests[-1]
                assert headers["x-forwarded-proto"] == "https"
                await stream.aclose()
            nursery.cancel_scope.cancel()

    run(main)


def test_https_upstream_verified_with_service_ca(tls_files: tuple[Path, Path, Path]) -> None:
    chain, key, ca = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(chain), str(key))

    async def handler(stream: trio.SocketStream) -> None:
        tls = trio.SSLStream(stream, server_ctx, server_side=True)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                req = await next_event(conn, tls)
                if not isinstance(req, h11.Request):
                    return
                while not isinstance(await next_event(conn, tls), h11.EndOfMessage):
                    pass
                await send_response(tls, conn, 200, b"secure " + req.target)  # type: ignore[arg-type]
                conn.start_next_cycle()
        except (trio.BrokenResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(tls)

    async def main() -> None:
        listener, port = await bind()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, handler, [listener])
            endpoint = {"endpoints": [{"url": f"https://127.0.0.1:{port}"}], "retries": 0}
            cfg = make_config(
                routes={
                    "ok": {"prefix": "/ok", "service": "trusted"},
                    "bad": {"prefix": "/bad", "service": "untrusted"},
                },
                services_extra={"trusted": {**endpoint, "ca": str(ca)}, "untrusted": endpoint},
            )
            async with gateway(cfg) as gw:
                resp = await get(gw.port, "/ok/x")
                assert (resp.status, resp.body) == (200, b"secure /x")
                resp = await get(gw.port, "/bad/x")  # not signed by a CA the system trusts
                assert resp.status == 502
                assert "TLS" in resp.json()["detail"] or "certificate" in resp.json()["detail"]
            nursery.cancel_scope.cancel()

    run(main)

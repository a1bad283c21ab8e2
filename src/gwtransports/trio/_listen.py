"""Binding the configured listeners (TLS contexts, SO_REUSEPORT for workers)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence

import trio

from gwcore.config import Listener

__all__ = ["open_listeners"]


def _tls_context(listener: Listener) -> ssl.SSLContext | None:
    if listener.tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(listener.tls.cert, listener.tls.key)
    ctx.set_alpn_protocols(["http/1.1"])
    if listener.tls.client_ca:
        ctx.load_verify_locations(listener.tls.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def open_listeners(
    listeners: Sequence[Listener], *, reuse_port: bool = False, backlog: int = 1024
) -> list[tuple[trio.SocketListener, ssl.SSLContext | None]]:
    """Bind every configured listener (SO_REUSEPORT when several workers share it).

    Raises:
        OSError: An address cannot be bound.
        ssl.SSLError: A certificate or key file cannot be loaded.
    """
    out = []
    for spec in listeners:
        ctx = _tls_context(spec)
        infos = await trio.socket.getaddrinfo(spec.host, spec.port, type=socket.SOCK_STREAM)
        family, type_, proto, _, addr = infos[0]
        sock = trio.socket.socket(family, type_, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        await sock.bind(addr)
        sock.listen(backlog)
        out.append((trio.SocketListener(sock), ctx))
    return out

"""Header edits between the client and the upstream.

Hop-by-hop headers (RFC 9110 7.6.1) describe one connection and must not be
forwarded: the fixed set below plus every name listed in ``Connection``.
``Transfer-Encoding`` is one of them: the transport re-frames the body (it knows
from its HTTP parser whether the client sent it chunked), so framing never travels
in a :class:`~gwcore.events.Forward`. ``Content-Length`` is end-to-end and kept.

The gateway then adds what the upstream needs to know about the client:
``X-Forwarded-For`` (appended, as every proxy in a chain does),
``X-Forwarded-Host`` and ``X-Forwarded-Proto`` (what *this* gateway saw: an
upstream trusts its gateway, not a client-supplied value), ``Via: 1.1 gw``
(RFC 9110 7.6.3, appended) and ``X-Request-Id`` (the client's when valid, else
a fresh one).
"""

from __future__ import annotations

from collections.abc import Sequence

#: RFC 9110 7.6.1 plus the legacy ``Keep-Alive`` / ``Proxy-Connection``.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers the gateway writes itself; a client's copy is dropped (or merged below).
_REPLACED = frozenset(
    {"host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "via", "x-request-id"}
)
#: Longest client-supplied request id the gateway keeps (Heroku's router limit).
MAX_REQUEST_ID = 200
VIA = "1.1 gw"


def valid_request_id(value: str) -> bool:
    """Whether a client's ``X-Request-Id`` is kept: 1..200 visible ASCII characters."""
    return 0 < len(value) <= MAX_REQUEST_ID and all(33 <= ord(c) <= 126 for c in value)


def request_id(headers: Sequence[tuple[str, str]], fresh: str) -> str:
    """The request's id: the client's valid ``X-Request-Id`` or ``fresh``."""
    for name, value in headers:
        if name == "x-request-id":
            return value if valid_request_id(value) else fresh
    return fresh


def upstream_headers(
    headers: Sequence[tuple[str, str]],
    *,
    host: str,
    client: str,
    scheme: str,
    rid: str,
) -> tuple[tuple[str, str], ...]:
    """The header list to send upstream.

    Args:
        headers: The client's headers (lower-case names, arrival order).
        host: The ``Host`` to send (the client's, or the route's ``host_rewrite``).
        client: The client's address, appended to ``X-Forwarded-For``.
        scheme: ``http`` or ``https`` as the client connected.
        rid: The request id.

    Returns:
        ``Host`` first, then the client's end-to-end headers in order, then
        ``X-Forwarded-For/-Host/-Proto``, ``Via`` and ``X-Request-Id``.
    """
    drop = HOP_BY_HOP
    for name, value in headers:
        if name == "connection":
            drop = drop | {token.strip().lower() for token in value.split(",")}
    forwarded_for: list[str] = []
    via: list[str] = []
    client_host = ""
    out: list[tuple[str, str]] = [("host", host)]
    for item in headers:
        name = item[0]
        # One set lookup for the common header; the rare ones are sorted out below.
        if name not in drop and name not in _REPLACED:
            out.append(item)
        elif name in drop:
            continue
        elif name == "x-forwarded-for":
            forwarded_for.append(item[1])
        elif name == "via":
            via.append(item[1])
        elif name == "host" and not client_host:
            client_host = item[1]
    if client:
        forwarded_for.append(client)
    if forwarded_for:
        out.append(("x-forwarded-for", ", ".join(forwarded_for)))
    if client_host:
        out.append(("x-forwarded-host", client_host))
    via.append(VIA)
    out += [
        ("x-forwarded-proto", scheme),
        ("via", ", ".join(via)),
        ("x-request-id", rid),
    ]
    return tuple(out)


def client_host(headers: Sequence[tuple[str, str]]) -> str | None:
    """The client's ``Host`` header value, or None."""
    for name, value in headers:
        if name == "host":
            return value
    return None

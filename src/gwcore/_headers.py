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

import re
from collections.abc import Sequence

from gwcore.events import Request, Respond

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


_VISIBLE = re.compile(f"[\x21-\x7e]{{1,{MAX_REQUEST_ID}}}")


def valid_request_id(value: str) -> bool:
    """Whether a client's ``X-Request-Id`` is kept: 1..200 visible ASCII characters."""
    return _VISIBLE.fullmatch(value) is not None


def request_id(headers: Sequence[tuple[str, str]], fresh: str) -> str:
    """The request's id: the client's valid ``X-Request-Id`` or ``fresh``."""
    for name, value in headers:
        if name == "x-request-id":
            return value if valid_request_id(value) else fresh
    return fresh


# Every name the edits below look at; any other header is passed on as it is.
_SPECIAL = HOP_BY_HOP | _REPLACED
# What to drop for a Connection value, by value: clients send the same few
# ("keep-alive", "close", "Upgrade"). Bounded: past this many it starts over.
_DROPS: dict[str, frozenset[str]] = {}
_DROPS_MAX = 256


# Header fields that are the same for most requests, made once.
_PROTO = {scheme: ("x-forwarded-proto", scheme) for scheme in ("http", "https")}
_VIA = ("via", VIA)


def _drops(value: str) -> frozenset[str]:
    """The hop-by-hop set plus the names a ``Connection`` value lists."""
    drop = _DROPS.get(value)
    if drop is None:
        if len(_DROPS) >= _DROPS_MAX:
            _DROPS.clear()
        drop = _DROPS[value] = HOP_BY_HOP | {token.strip().lower() for token in value.split(",")}
    return drop


def upstream_headers(
    headers: Sequence[tuple[str, str]],
    host: str,
    client: str,
    scheme: str,
    fresh: str,
) -> tuple[tuple[tuple[str, str], ...], str]:
    """The header list to send upstream, and the request id.

    Args:
        headers: The client's headers (lower-case names, arrival order).
        host: The ``Host`` to send (the client's, or the route's ``host_rewrite``).
        client: The client's address, appended to ``X-Forwarded-For``.
        scheme: ``http`` or ``https`` as the client connected.
        fresh: The request id to use when the client sent no valid one.

    Returns:
        ``(headers, request id)``: ``Host`` first, then the client's end-to-end
        headers in order, then ``X-Forwarded-For/-Host/-Proto``, ``Via`` and
        ``X-Request-Id``; the id is :func:`request_id`'s.
    """
    # The end-to-end headers in one comprehension; only the few this function
    # has to look at (usually Host and Connection) go through a Python loop.
    out = [("host", host)]
    out += [item for item in headers if item[0] not in _SPECIAL]
    if len(out) > len(headers):  # no header needs a look
        forwarded, via, client_host, rid = client, VIA, "", fresh
    else:
        forwarded, via, client_host, rid = _special(headers, out, client, fresh)
    if forwarded:
        out.append(("x-forwarded-for", forwarded))
    if client_host:
        out.append(("x-forwarded-host", client_host))
    out.append(_PROTO.get(scheme) or ("x-forwarded-proto", scheme))
    out.append(_VIA if via is VIA else ("via", via))
    out.append(("x-request-id", rid))
    return tuple(out), rid


def _special(
    headers: Sequence[tuple[str, str]], out: list[tuple[str, str]], client: str, fresh: str
) -> tuple[str, str, str, str]:
    """Sort out the headers in ``_SPECIAL``: drop what ``Connection`` lists from
    ``out`` (in place), merge ``X-Forwarded-For`` and ``Via``, note ``Host``.

    Returns:
        ``(X-Forwarded-For, Via, client's Host, request id)``.
    """
    drop = HOP_BY_HOP
    forwarded = via = client_host = rid = ""
    for name, value in [item for item in headers if item[0] in _SPECIAL]:
        if name == "host":
            client_host = client_host or value
        elif name == "connection":
            drop = _drops(value) if drop is HOP_BY_HOP else drop | _drops(value)
        elif name == "x-forwarded-for":
            forwarded = f"{forwarded}, {value}" if forwarded else value
        elif name == "via":
            via = f"{via}, {value}" if via else value
        elif name == "x-request-id" and not rid:
            rid = value if valid_request_id(value) else fresh
    if len(drop) > len(HOP_BY_HOP):  # Connection names more than the usual
        out[1:] = [item for item in out[1:] if item[0] not in drop]
        # A name Connection lists is dropped in every occurrence (even ours).
        client_host = "" if "host" in drop else client_host
        forwarded = "" if "x-forwarded-for" in drop else forwarded
        via = "" if "via" in drop else via
    if client:
        forwarded = f"{forwarded}, {client}" if forwarded else client
    return forwarded, f"{via}, {VIA}" if via else VIA, client_host, rid or fresh


def client_host(headers: Sequence[tuple[str, str]]) -> str | None:
    """The client's ``Host`` header value, or None."""
    if headers and headers[0][0] == "host":
        return headers[0][1]  # where clients put it (RFC 9110 7.2 advises first)
    for name, value in headers:
        if name == "host":
            return value
    return None


#: What ``OPTIONS *`` answers: the methods the gateway itself relays (a route may
#: narrow them). RFC 9110 9.3.7: an asterisk target asks about the server as a
#: whole, so no route is involved and nothing is sent upstream.
SERVER_METHODS = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"


def server_options(request: Request) -> Respond:
    """The gateway's own answer to ``OPTIONS *`` (200 with ``Allow``)."""
    return Respond(
        request_id=request_id(request.headers, request.request_id),
        route="*",
        status=200,
        headers=(("allow", SERVER_METHODS),),
    )

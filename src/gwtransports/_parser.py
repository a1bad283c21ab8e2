"""The HTTP/1.1 parser seam: what the proxy needs from a parser, and the h11 one.

Theory of operation
-------------------
The proxy loops (trio today, asyncio later) never touch a parser library
directly. They hold one :class:`ServerParser` per client connection and one
:class:`ClientParser` per upstream connection, feed them bytes, and get back
a small, closed set of values from ``next_event()``:

* :class:`RequestHead` / :class:`ResponseHead` -- a message head;
* ``bytes`` or ``bytearray`` -- a piece of body (the parser's own object,
  never copied again);
* :data:`END` -- the message is complete;
* :data:`NEED_DATA` -- feed more bytes;
* :data:`CLOSED` -- the peer closed cleanly between messages;
* :data:`PAUSED` -- the message is complete and the next one must wait for
  ``start_next_cycle()``.

Body pieces are plain byte strings rather than wrapper objects because a body of
1 GiB passes through as tens of thousands of pieces: one allocation fewer per
piece is measurable. Protocol errors raise :class:`ParseError` carrying the
status to answer with (h11's ``error_status_hint``: 400, 431, 501).

``PARSERS`` maps a name (``--http h11``) to the pair of parser classes, the way
uvicorn selects ``--http h11|httptools``; a faster parser plugs in there
without touching the loops.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Protocol, cast

import h11

__all__ = [
    "CLOSED",
    "END",
    "NEED_DATA",
    "PARSERS",
    "PAUSED",
    "ClientParser",
    "H11ClientParser",
    "H11ServerParser",
    "ParseError",
    "RequestHead",
    "ResponseHead",
    "ServerParser",
]


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The current message is complete.
END: Final = _Marker("END")
#: More bytes are needed before anything else can be said.
NEED_DATA: Final = _Marker("NEED_DATA")
#: The peer closed the connection where that is allowed (between messages).
CLOSED: Final = _Marker("CLOSED")
#: The message is complete; call ``start_next_cycle`` before reading on.
PAUSED: Final = _Marker("PAUSED")

Headers = list[tuple[bytes, bytes]]

# h11 events are immutable: one end-of-message event serves every message.
_EOM = h11.EndOfMessage()


class ParseError(Exception):
    """The peer broke HTTP/1.1; the connection cannot go on.

    Attributes:
        status: Status to answer with (400, 431, 501, 505).
        detail: Why, for the error body and the log.
    """

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class RequestHead:
    """A request head as parsed: names lower-cased bytes, values as sent."""

    __slots__ = ("headers", "http_version", "method", "target")

    def __init__(self, method: bytes, target: bytes, headers: Headers, http_version: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.http_version = http_version


class ResponseHead:
    """A final (non-1xx) response head: names lower-cased bytes."""

    __slots__ = ("headers", "http_version", "reason", "status")

    def __init__(self, status: int, headers: Headers, reason: bytes, http_version: bytes) -> None:
        self.status = status
        self.headers = headers
        self.reason = reason
        self.http_version = http_version


Event = RequestHead | ResponseHead | bytes | bytearray | _Marker


class ServerParser(Protocol):
    """The client-facing side of one connection (we are the server)."""

    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Event: ...
    def send_response(
        self, status: int, headers: Headers, reason: bytes = b"", *, checked: bool = False
    ) -> bytes: ...
    def send_continue(self) -> bytes: ...
    def send_data(self, data: bytes | bytearray) -> bytes: ...
    def send_end(self) -> bytes: ...
    def start_next_cycle(self) -> bool: ...
    def buffered(self) -> bytes: ...

    @property
    def waiting_for_continue(self) -> bool: ...
    @property
    def keep_alive(self) -> bool: ...
    @property
    def body_pending(self) -> bool: ...


class ClientParser(Protocol):
    """The upstream-facing side of one connection (we are the client)."""

    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Event: ...
    def send_request(
        self, method: bytes, target: bytes, headers: Headers, *, checked: bool = False
    ) -> bytes: ...
    def send_data(self, data: bytes | bytearray) -> bytes: ...
    def send_end(self) -> bytes: ...
    def start_next_cycle(self) -> bool: ...


def _plain(headers: h11._headers.Headers) -> Headers:
    """h11's header list as a plain list of ``(lower-case name, value)``.

    h11 keeps headers in a ``Sequence`` whose items are made one by one in
    Python; the proxy walks them several times per request, so one plain list
    up front is cheaper.
    """
    full = getattr(headers, "_full_items", None)
    if full is None:  # another h11 version: take the public, slower way
        return list(headers)
    return [(name, value) for _, name, value in full]


class _Fields(h11._headers.Headers):
    """h11's ``Headers``, iterated as a list.

    h11 walks a request's fields once more when it checks for ``Host``; the
    ``Sequence`` default iterates with one ``__getitem__`` call per field.
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter([(name, value) for _, name, value in self._full_items])


# h11 keeps (raw name, lower-case name, value) triples in ``_full_items``;
# another h11 version may not: then the checked path falls back to a plain list.
_FAST_FIELDS = "_full_items" in getattr(h11._headers.Headers, "__slots__", ())


def _h11_headers(headers: Headers, lower: bool) -> h11._headers.Headers | Headers:
    """A checked header list as h11's own ``Headers``, which h11 then takes as is.

    Handing h11 a plain list makes it rebuild the list field by field
    (lower-casing names, re-checking framing values) on every message; the
    headers given here were parsed by h11 or made by the gateway, so that work
    is done already. ``lower``: names may carry upper case (h11 matches
    ``Connection``, ``Content-Length`` and friends on the lower-cased name).
    """
    if not _FAST_FIELDS:
        return headers
    if lower:
        return _Fields([(n, n.lower(), v) for n, v in headers])
    return _Fields([(n, n, v) for n, v in headers])


# h11 quotes the offending bytes as a Python repr ("bytearray(b'GET / x')"); the
# error body shows them as plain quoted bytes instead.
_BYTES_REPR = re.compile(r"""(?:bytearray\()?b(['"])(.*?)\1\)?""")


def _map_h11_error(exc: h11.ProtocolError) -> ParseError:
    detail = _BYTES_REPR.sub(lambda m: repr(m.group(2)), str(exc)) or "malformed request"
    return ParseError(detail, exc.error_status_hint)


class H11ServerParser:
    """:class:`ServerParser` on h11.

    Args:
        max_head: Bytes h11 may buffer while waiting for a complete head; the
            transport enforces the real limits (414/431) before h11 sees them,
            so this is only a backstop.
    """

    __slots__ = ("_conn",)

    def __init__(self, max_head: int = 64 * 1024) -> None:
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head + 1024)

    def receive_data(self, data: bytes) -> None:
        self._conn.receive_data(data)

    def next_event(self) -> Event:
        try:
            ev = self._conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise _map_h11_error(exc) from None
        # ``type(...) is``: exact classes, most frequent first (hot path).
        cls = type(ev)
        if cls is h11.Data:
            return cast(h11.Data, ev).data
        if cls is h11.EndOfMessage:
            return END
        if cls is h11.Request:
            req = cast(h11.Request, ev)
            if req.http_version[:2] != b"1.":
                # h11 parses any "HTTP/d.d"; a gateway speaking HTTP/1.1 refuses other
                # major versions (RFC 9110 15.6.6) rather than proxying them as 1.1.
                raise ParseError(
                    f"HTTP/{req.http_version.decode('ascii', 'replace')} is not supported; "
                    "this gateway speaks HTTP/1.1",
                    505,
                )
            return RequestHead(req.method, req.target, _plain(req.headers), req.http_version)
        if ev is h11.NEED_DATA:
            return NEED_DATA
        if ev is h11.PAUSED:
            return PAUSED
        return CLOSED

    def send_response(
        self, status: int, headers: Headers, reason: bytes = b"", *, checked: bool = False
    ) -> bytes:
        """Serialise a response head.

        Args:
            checked: The headers were already validated and their names are
                lower case (they come from a parser, or were checked by the
                caller): skip h11's per-field checks and its copy of the list.
        """
        if checked:
            ev = h11.Response(
                status_code=status,
                headers=_h11_headers(headers, False),
                reason=reason,
                _parsed=True,
            )
        else:
            ev = h11.Response(status_code=status, headers=headers, reason=reason)
        return self._conn.send(ev) or b""

    def send_continue(self) -> bytes:
        return self._conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""

    def send_data(self, data: bytes | bytearray) -> bytes:
        return self._conn.send(h11.Data(data=data)) or b""  # type: ignore[arg-type]  # any bytes-like

    def send_end(self) -> bytes:
        return self._conn.send(_EOM) or b""

    def start_next_cycle(self) -> bool:
        """Start reading the next request if both sides finished cleanly.

        Returns:
            Whether the connection may carry another request.
        """
        conn = self._conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return True
        return False

    def buffered(self) -> bytes:
        """Bytes received but not parsed yet (a pipelined next request)."""
        return self._conn.trailing_data[0]

    @property
    def waiting_for_continue(self) -> bool:
        return self._conn.they_are_waiting_for_100_continue

    @property
    def keep_alive(self) -> bool:
        """Whether, so far, neither side asked to close after this message."""
        return self._conn.our_state is not h11.MUST_CLOSE and self._conn.their_state not in (
            h11.MUST_CLOSE,
            h11.CLOSED,
        )

    @property
    def body_pending(self) -> bool:
        """Whether the client is still sending a request body we have not read."""
        return self._conn.their_state is h11.SEND_BODY


class H11ClientParser:
    """:class:`ClientParser` on h11."""

    __slots__ = ("_conn",)

    def __init__(self) -> None:
        self._conn = h11.Connection(h11.CLIENT)

    def receive_data(self, data: bytes) -> None:
        self._conn.receive_data(data)

    def next_event(self) -> Event:
        try:
            while True:
                ev = self._conn.next_event()
                cls = type(ev)
                if cls is h11.Data:
                    return cast(h11.Data, ev).data
                if cls is h11.EndOfMessage:
                    return END
                if cls is h11.Response:
                    resp = cast(h11.Response, ev)
                    headers = _plain(resp.headers)
                    return ResponseHead(resp.status_code, headers, resp.reason, resp.http_version)
                if cls is h11.InformationalResponse:
                    continue  # 100 Continue and friends: the gateway answered its client itself
                if ev is h11.NEED_DATA:
                    return NEED_DATA
                if ev is h11.PAUSED:
                    return PAUSED
                return CLOSED
        except h11.RemoteProtocolError as exc:
            raise ParseError(f"upstream: {exc}", 502) from None

    def send_request(
        self, method: bytes, target: bytes, headers: Headers, *, checked: bool = False
    ) -> bytes:
        """Serialise a request head.

        Args:
            checked: The header values were already validated (no CR, LF or
                NUL; framing fields made by the caller): skip h11's per-field
                checks and its copy of the list. Names may carry upper case.
        """
        if checked:
            fields = _h11_headers(headers, True)
            ev = h11.Request(method=method, target=target, headers=fields, _parsed=True)
        else:
            ev = h11.Request(method=method, target=target, headers=headers)
        return self._conn.send(ev) or b""

    def send_data(self, data: bytes | bytearray) -> bytes:
        return self._conn.send(h11.Data(data=data)) or b""  # type: ignore[arg-type]  # any bytes-like

    def send_end(self) -> bytes:
        return self._conn.send(_EOM) or b""

    def start_next_cycle(self) -> bool:
        conn = self._conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return True
        return False


#: Parser implementations by name, as selected by ``gw serve --http``.
PARSERS: dict[str, tuple[type[H11ServerParser], type[H11ClientParser]]] = {
    "h11": (H11ServerParser, H11ClientParser),
}

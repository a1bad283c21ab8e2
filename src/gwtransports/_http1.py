"""Everything about proxying HTTP/1.1 that does not await.

Theory of operation
-------------------
A transport adapter (trio now, asyncio later) is a loop that moves bytes and
time. Every decision that loop makes about *HTTP* -- is this head acceptable,
how is this body framed, which headers cross the proxy, what does an error look
like, may this connection carry another request -- is made here, synchronously,
so that two adapters cannot drift apart.

Per request the loop goes through these steps::

    bytes ──HeadScanner──▶ complete head ──parser──▶ RequestHead
          (414, 431, obs-fold 400)                   │
                                   check_framing ◀───┘ (CL+TE 400, HTTP/1.0 TE 400)
                                         │
                               core_headers ──▶ gwcore decide ──▶ Forward / Respond
                                         │
                  upstream_headers(Forward) ──▶ upstream ──▶ client_headers(response)

Smuggling (RFC 9112 section 6.3, 11.2): h11 accepts a request carrying both
``Content-Length`` and ``Transfer-Encoding`` (the latter wins) and unfolds
obs-fold lines; a proxy that passes either on lets two parsers disagree on where
a request ends. Both are refused here with 400 and the connection is closed
(:attr:`HttpError.close`), so no second request hidden in the first is ever read.
Differing duplicate ``Content-Length``, several ``Transfer-Encoding`` and bad
chunk sizes are refused by the parser (:class:`~gwtransports._parser.ParseError`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus

from gwcore.config import Config
from gwcore.errors import GatewayError, MethodNotAllowed

__all__ = [
    "CODES",
    "REASONS",
    "HeadScanner",
    "HttpError",
    "Settings",
    "check_framing",
    "client_headers",
    "core_headers",
    "error_from_gateway",
    "error_response",
    "upstream_headers",
]

Headers = list[tuple[bytes, bytes]]

#: Machine-readable error names for the JSON error body, by status, for errors
#: the transport finds itself (gwcore errors carry their own ``code``).
CODES: dict[int, str] = {
    400: "bad_request",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "upstream_timeout",
    505: "http_version_not_supported",
}


#: Reason phrases for the gateway's own answers.
REASONS: dict[int, bytes] = {s.value: s.phrase.encode() for s in HTTPStatus}


class HttpError(Exception):
    """A request the transport refuses before (or instead of) the core deciding.

    Attributes:
        status: Status to answer with.
        code: Name for the error body.
        detail: Human-readable cause, safe to show to the client.
        close: Whether the client connection must close after the answer (always
            for framing errors: what follows on the wire cannot be trusted).
        headers: Extra response headers (``Allow`` on a 405, RFC 9110 15.5.6).
    """

    headers: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(self, status: int, detail: str, *, code: str = "", close: bool = True) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or CODES.get(status, "error")
        self.close = close


def error_from_gateway(exc: GatewayError) -> HttpError:
    """Map a gwcore error to the answer a client gets (its ``status_hint``).

    Args:
        exc: Any :class:`~gwcore.errors.GatewayError`.

    Returns:
        An :class:`HttpError` that keeps the connection open: a core decision
        never makes the byte stream untrustworthy.
    """
    err = HttpError(exc.status_hint, exc.reason, code=exc.code, close=False)
    if isinstance(exc, MethodNotAllowed):
        err.headers = ((b"allow", ", ".join(exc.allowed).encode()),)
    return err


def error_response(err: HttpError, request_id: str) -> tuple[Headers, bytes]:
    """The headers and JSON body of an error answer.

    Returns:
        ``(headers, body)``; headers carry ``Content-Length`` and, when the
        connection is to close, ``Connection: close``.
    """
    body = json.dumps({"error": err.code, "detail": err.detail, "request_id": request_id}).encode()
    headers: Headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode("latin-1", "replace")),
        *err.headers,
    ]
    if err.close:
        headers.append((b"connection", b"close"))
    return headers, body


@dataclass(frozen=True, slots=True)
class Settings:
    """The config values the client side of a connection needs, read once per
    config generation instead of once per request.

    Attributes:
        header_read: Seconds for a whole request head -> 408.
        idle: Seconds a keep-alive connection may wait for its next request; also
            the longest pause tolerated inside a request body.
        max_request_line: Bytes of the request line -> 414.
        max_header_bytes: Bytes of the header block -> 431.
        max_connections: Concurrent client connections per worker.
        grace: Seconds SIGTERM waits for in-flight requests.
        response: Default upstream response timeout (also bounds how long an
            upstream may stall reading a request body).
    """

    header_read: float
    idle: float
    max_request_line: int
    max_header_bytes: int
    max_connections: int
    grace: float
    response: float

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        t, lim = config.timeouts, config.limits
        return cls(
            header_read=t.header_read,
            idle=t.idle,
            max_request_line=lim.max_request_line,
            max_header_bytes=lim.max_header_bytes,
            max_connections=lim.max_connections,
            grace=t.grace,
            response=t.response,
        )


# A line of the head that starts with SP or HTAB: obs-fold (RFC 9112 5.2), or
# whitespace before the first field (RFC 9112 2.2). Either way: reject.
_OBS_FOLD = re.compile(rb"\n[ \t]")
# End of the head: an empty line. Bare LF is tolerated as h11 does (RFC 9112 2.2).
_HEAD_END = re.compile(rb"\n\r?\n")


class HeadScanner:
    """Watches the raw bytes of one request head, before the parser reads them.

    h11 does not tell an over-long request line (414) from an over-long header
    block (431), and silently unfolds obs-fold lines; both need the raw bytes.
    The scan resumes where it stopped, so a client sending one byte at a time
    costs O(n), not O(n^2).

    Args:
        max_request_line: Request line limit in bytes -> 414.
        max_header_bytes: Header block limit in bytes -> 431.
    """

    __slots__ = ("_buf", "_done", "_line_end", "_scanned", "max_header_bytes", "max_request_line")

    def __init__(self, max_request_line: int, max_header_bytes: int) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self._buf = bytearray()
        self._scanned = 0
        self._line_end = -1
        self._done = False

    def reset(self, pending: bytes = b"") -> bool:
        """Start a new head, with bytes already received (pipelined) if any.

        Returns:
            Whether ``pending`` already holds a complete, acceptable head.
        """
        self._buf.clear()
        self._scanned = 0
        self._line_end = -1
        self._done = False
        return self.feed(pending) if pending else False

    def feed(self, data: bytes) -> bool:
        """Add received bytes.

        Returns:
            Whether a complete head has arrived (the parser may now read it).

        Raises:
            HttpError: 414, 431, or 400 for obs-fold; the connection must close.
        """
        if self._done:
            return True  # bytes after the head belong to the body
        buf = self._buf
        if (
            not buf
            and len(data) <= self.max_request_line
            and len(data) <= self.max_header_bytes
            and data.endswith(b"\r\n\r\n")
            and data.find(b"\r\n\r\n") == len(data) - 4
            and b"\n " not in data
            and b"\n\t" not in data
        ):
            # Fastest path: exactly one small head in one segment (the usual
            # request without a body): within both limits, no folded line.
            self._done = True
            return True
        if not buf and self._line_end < 0 and self._check(data, 0):
            # Fast path: the whole head in one segment, no copy needed.
            self._done = True
            return True
        if not buf and self._line_end >= 0:
            self._line_end = -1  # the fast path's partial scan of ``data`` is redone below
            self._scanned = 0
        buf += data
        self._done = self._check(buf, self._scanned)
        return self._done

    def _check(self, buf: bytes | bytearray, start: int) -> bool:
        if self._line_end < 0:
            nl = buf.find(b"\n", max(0, start - 1))
            if nl < 0:
                # The line may still end in "\r" whose "\n" is in the next segment:
                # max_request_line bytes plus that CR are not over the limit yet.
                if len(buf) > self.max_request_line + 1:
                    raise HttpError(414, "request line too long")
                self._scanned = len(buf)
                return False
            if nl > self.max_request_line + 1:
                raise HttpError(414, "request line too long")
            self._line_end = nl
        line_end = self._line_end
        from_ = max(line_end, start - 3)
        m = _HEAD_END.search(buf, from_)
        end = m.end() if m else len(buf)
        if end - line_end > self.max_header_bytes:
            raise HttpError(431, "request header block too large")
        if _OBS_FOLD.search(buf, max(line_end, start - 1), end):
            raise HttpError(400, "obsolete line folding in request headers")
        if m is None:
            self._scanned = len(buf)
            return False
        return True


def check_framing(headers: Headers, http_version: bytes) -> tuple[int | None, bool, bool]:
    """Check how a request body is framed (RFC 9112 section 6).

    The parser has already refused differing ``Content-Length`` values and any
    ``Transfer-Encoding`` other than a single ``chunked``.

    Args:
        headers: Request headers, names lower-cased.
        http_version: ``b"1.1"`` or ``b"1.0"``.

    Returns:
        ``(content_length, chunked, expect_continue)``.

    Raises:
        HttpError: 400 (connection closes) for ``Content-Length`` together with
            ``Transfer-Encoding``, or ``Transfer-Encoding`` in an HTTP/1.0 request
            (RFC 9112 6.1: a 1.0 recipient cannot be assumed to understand it).
    """
    length: int | None = None
    chunked = False
    expect = False
    for name, value in headers:
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expect = value.lower() == b"100-continue"
    if chunked and length is not None:
        raise HttpError(400, "both Content-Length and Transfer-Encoding")
    if chunked and http_version == b"1.0":
        raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
    return length, chunked, expect


def core_headers(headers: Headers) -> tuple[tuple[str, str], ...]:
    """Request headers as gwcore takes them: ``str``, latin-1 decoded (RFC 9110 5.5)."""
    return tuple([(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers])


# Header names the gateway itself frames or answers for on the upstream side.
_FRAMED_BY_US = frozenset({"transfer-encoding", "expect", "content-length"})


def upstream_headers(headers: tuple[tuple[str, str], ...], body: int | None) -> Headers:
    """The header list sent upstream for a core ``Forward``.

    Args:
        headers: ``Forward.headers`` (hop-by-hop ones already removed by the core).
        body: The request body's length when known, ``-1`` for a body of
            unknown length (sent chunked), ``None`` for no body.

    Returns:
        Encoded headers with framing set by the gateway: ``Expect`` is answered by
        the gateway itself, so it is not passed on.

    Raises:
        HttpError: 400 when a value holds CR, LF or NUL.
    """
    # One join, one encode and one split instead of two encodes per field. The
    # values come from the parsed client request or from the core; anything
    # that could split the head (CR, LF, NUL) is refused, which also keeps the
    # NUL separator unambiguous and lets the parser skip its own checks.
    items = [f"{n}\0{v}" for n, v in headers if n not in _FRAMED_BY_US]
    flat = "\0".join(items)
    if items and ("\n" in flat or "\r" in flat or flat.count("\0") != 2 * len(items) - 1):
        raise HttpError(400, "control character in a header value", close=False)
    parts = flat.encode("latin-1").split(b"\0") if items else []
    out: Headers = list(zip(parts[::2], parts[1::2], strict=True))
    if body is not None:
        if body < 0:
            out.append((b"transfer-encoding", b"chunked"))
        else:
            out.append((b"content-length", str(body).encode()))
    return out


# RFC 9110 7.6.1 hop-by-hop fields, plus the de-facto ones (Keep-Alive,
# Proxy-Connection). Content-Length stays: the parser needs it to frame the body.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
    }
)


def client_headers(headers: Headers) -> Headers:
    """Response headers as forwarded to the client: hop-by-hop ones removed.

    Returns:
        The same list object when nothing needs removing (the common case), so
        the fast path allocates nothing.
    """
    if _HOP_BY_HOP.isdisjoint([name for name, _ in headers]):
        return headers
    drop = _HOP_BY_HOP
    for name, value in headers:
        if name == b"connection":
            drop = _drops(value) if drop is _HOP_BY_HOP else drop | _drops(value)
    return [(n, v) for n, v in headers if n not in drop]


# The hop-by-hop set plus what a ``Connection`` value lists, by value: upstreams
# send the same few ("keep-alive", "close"). Bounded: past this many it starts over.
_DROPS: dict[bytes, frozenset[bytes]] = {}
_DROPS_MAX = 256


def _drops(value: bytes) -> frozenset[bytes]:
    drop = _DROPS.get(value)
    if drop is None:
        if len(_DROPS) >= _DROPS_MAX:
            _DROPS.clear()
        drop = _DROPS[value] = _HOP_BY_HOP | {t.strip().lower() for t in value.split(b",")}
    return drop

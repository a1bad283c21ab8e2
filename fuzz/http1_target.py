# Invariant: any bytes as a client's request head -> a parsed head (no CL+TE, no CR/LF/NUL in a header) or a 4xx (or 501/505) rejection with a reason; nothing else, however the bytes are split.  # noqa: E501
"""Fuzz target for the HTTP/1.1 request-head surface of ``gw serve``.

Each input is the raw bytes a client sends. They go through what
:func:`gwtransports.trio._head.read_head` and the server do with them, without
sockets: :class:`~gwtransports._http1.HeadScanner` (414, 431, obs-fold 400) on
the raw bytes, then the HTTP/1.1 parser (every entry of
:data:`~gwtransports._parser.PARSERS`; 400 and friends as
:class:`~gwtransports._parser.ParseError`), then
:func:`~gwtransports._http1.check_framing` (Content-Length with
Transfer-Encoding, Transfer-Encoding in HTTP/1.0: 400).

The outcome must be one of:

- a parsed head: method and target without whitespace or control bytes, a
  ``1.D`` version, header names lower-case without whitespace or colon, no CR, LF or
  NUL in any value, at most one Content-Length value, Transfer-Encoding only
  ``chunked`` and never beside a Content-Length (request smuggling, RFC 9112
  section 6.3), and chunked framing never for HTTP/1.0;
- a rejection with a 4xx status and a non-empty reason, or 501 for a transfer
  coding other than ``chunked`` (RFC 9112 section 6.1: "SHOULD respond with 501
  (Not Implemented)"), or 505 for an HTTP major version other than 1 (RFC 9110
  section 15.6.6);
- "incomplete": the bytes end before the head does (the server then waits, and
  its header-read timeout answers 408).

Another exception, another 5xx, or an outcome that depends on how the bytes were
split into segments (whole, one byte at a time, fixed-size chunks) is a bug; only
the status of a rejection may differ when a head has several problems (the
scanner answers the first one it meets).
Limits are small here (request line 64 bytes, header block 256) so that 414 and
431 are reached by short inputs.

Run it under atheris (``pip install atheris``)::

    python fuzz/http1_target.py fuzz/http1_corpus/

Without atheris, ``check`` runs in the test suite on the corpus and on a short
hypothesis run (tests/test_fuzz_http1.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from gwtransports._http1 import HeadScanner, HttpError, check_framing
from gwtransports._parser import NEED_DATA, PARSERS, ParseError, RequestHead

#: Limits small enough that short inputs reach 414 and 431.
MAX_REQUEST_LINE = 64
MAX_HEADER_BYTES = 256

# Longest input fed one byte at a time (byte-by-byte feeding is O(n) parser
# calls; longer inputs are fed whole and in chunks only).
_BYTEWISE_MAX = 2048

_VERSION = re.compile(rb"[0-9]\.[0-9]")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_IN_VALUE = re.compile(rb"[\r\n\x00]")
_BAD_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")

#: An outcome: ("head", method, target, headers, version, framing),
#: ("reject", status) or ("incomplete",).
Outcome = tuple[object, ...]


def _outcome(chunks: Iterable[bytes], parser_name: str) -> Outcome:
    """Feed ``chunks`` as the server's head reader does and say what came of it."""
    parser = PARSERS[parser_name][0](MAX_HEADER_BYTES)
    scanner = HeadScanner(MAX_REQUEST_LINE, MAX_HEADER_BYTES)
    scanner.reset()
    try:
        for chunk in chunks:
            parser.receive_data(chunk)
            if not scanner.feed(chunk):
                continue
            event = parser.next_event()
            if event is NEED_DATA:
                continue
            if not isinstance(event, RequestHead):
                # The parser saw the connection end; a server closes it too.
                return ("incomplete",)
            framing = check_framing(event.headers, event.http_version)
            headers = tuple(event.headers)
            return ("head", event.method, event.target, headers, event.http_version, framing)
    except (HttpError, ParseError) as exc:
        assert 400 <= exc.status < 500 or exc.status in (501, 505), f"{exc.status}: {exc.detail}"
        assert exc.detail, "a rejection without a reason"
        return ("reject", exc.status)
    return ("incomplete",)


def _check_head(outcome: Outcome) -> None:
    _, method, target, headers, version, framing = outcome
    assert isinstance(method, bytes) and _TOKEN.fullmatch(method), method
    assert isinstance(target, bytes) and target and not _BAD_IN_TARGET.search(target), target
    # Only HTTP/1.x heads get through (other major versions are refused with
    # 505); the gateway speaks HTTP/1.1 upstream whatever the client's minor version.
    assert isinstance(version, bytes) and _VERSION.fullmatch(version), version
    assert version.startswith(b"1."), version
    assert isinstance(headers, tuple)
    lengths: set[bytes] = set()
    encodings: list[bytes] = []
    for name, value in headers:
        assert _TOKEN.fullmatch(name) and name == name.lower(), name
        assert not _BAD_IN_VALUE.search(value), (name, value)
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            encodings.append(value)
    assert len(lengths) <= 1, f"differing Content-Length values accepted: {lengths}"
    assert not (lengths and encodings), "Content-Length with Transfer-Encoding accepted"
    assert all(e.lower() == b"chunked" for e in encodings), encodings
    assert len(encodings) <= 1, encodings
    assert isinstance(framing, tuple)
    length, chunked, _expect = framing
    assert chunked == bool(encodings)
    assert not chunked or version != b"1.0", "chunked framing in HTTP/1.0"
    assert length is None or (isinstance(length, int) and length >= 0), length


def _splits(data: bytes) -> Iterable[list[bytes]]:
    yield [data]
    if len(data) <= _BYTEWISE_MAX:
        yield [data[i : i + 1] for i in range(len(data))]
    size = 1 + len(data) % 7
    yield [data[i : i + size] for i in range(0, len(data), size)]


def check(data: bytes) -> None:
    """Assert the invariant for one input; return normally when it holds."""
    for name in PARSERS:
        outcomes = [_outcome(chunks, name) for chunks in _splits(data)]
        first = outcomes[0]
        # A head with two problems may be refused for either, depending on which
        # the scanner meets first (obs-fold 400 in an early segment, or 431 for
        # the whole block in one): only *whether* it is refused must not depend
        # on the segments.
        kinds = [o[:1] if o[0] == "reject" else o for o in outcomes]
        assert all(k == kinds[0] for k in kinds), (name, outcomes)
        if first[0] == "head":
            _check_head(first)


def main() -> None:
    """Run under atheris with the corpus directories given on the command line."""
    # Imported here: atheris is optional and only this entry point needs it.
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

    atheris.instrument_all()  # coverage feedback from the parser and scanner, already imported
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

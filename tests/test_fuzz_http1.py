"""A short hypothesis run of fuzz/http1_target.py, plus its seed corpus.

The target's invariant: any bytes a client sends as a request head, fed whole,
one byte at a time and in chunks through the head scanner, the parser and the
framing check, give the same outcome every time: a parsed head without
Content-Length beside Transfer-Encoding and without CR/LF/NUL in a header, a
4xx (or 501) rejection with a reason, or "incomplete"; nothing else.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import FUZZ, load_target, standard_tests

target = load_target("http1")
check, outcome = target.check, target._outcome
test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes = standard_tests(
    "http1", check, "# Invariant: any bytes as a client's request head", max_size=120
)

#: Request lines near valid ones, with the usual smuggling and parsing tricks.
REQUEST_LINES = st.sampled_from(
    [
        *(b"GET / HTTP/1.1", b"POST /orders HTTP/1.1", b"GET / HTTP/1.0", b"PUT /x?y=1 HTTP/1.1"),
        *(b"GET http://a/b HTTP/1.1", b"OPTIONS * HTTP/1.1", b"GET /a b HTTP/1.1", b"GET /"),
        *(b"PRI * HTTP/2.0", b"get / HTTP/1.1", b"GET / HTTP/1.1 "),
        b"GET /" + b"a" * 70 + b" HTTP/1.1",
    ]
) | st.binary(max_size=20)  # fmt: skip
#: Header lines, framing ones first among them.
HEADER_LINES = st.sampled_from(
    [
        *(b"Host: x", b"Content-Length: 5", b"Content-Length: 7", b"Content-Length: 5, 5"),
        *(b"Content-Length: +5", b"Content-Length: -1", b"Content-Length: 99999999999999999999"),
        *(b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"),
        b"transfer-encoding: CHUNKED",
        *(b"Transfer-Encoding : chunked", b"Transfer-Encoding: chunked, chunked", b" folded"),
        *(b"\tfolded", b"Expect: 100-continue", b"X-A: a\x00b", b"X-A: a\rb", b"X-A:", b": x"),
        *(b"Connection: close", b"Connection: keep-alive, Upgrade", b"X-Pad: " + b"p" * 200),
    ]
) | st.binary(max_size=16)  # fmt: skip
ENDINGS = st.sampled_from([b"\r\n", b"\n", b"\r"])
BODIES = st.sampled_from([b"", b"hello", b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n"])


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("smuggle-cl-te", 400),
        ("smuggle-te-cl", 400),
        ("smuggle-cl-cl-differ", 400),
        ("te-space-before-colon", 400),
        ("te-http10", 400),
        ("obs-fold", 400),
        ("obs-fold-tab", 400),
        ("nul-in-value", 400),
        ("cr-in-value", 400),
        ("long-request-line", 414),
        ("long-headers", 431),
        ("te-identity", 501),
    ],
)
def test_smuggling_seeds_are_refused(name: str, status: int) -> None:
    data = (FUZZ / "http1_corpus" / name).read_bytes()
    assert outcome([data], "h11") == ("reject", status)


def test_a_valid_head_parses() -> None:
    data = (FUZZ / "http1_corpus" / "post-content-length").read_bytes()
    parsed = outcome([data], "h11")
    assert parsed[0] == "head" and parsed[5] == (5, False, False)


def test_request_line_at_the_limit_does_not_depend_on_segments() -> None:
    line = b"GET /" + b"a" * (64 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 64
    data = line + b"\r\nHost: x\r\n\r\n"
    whole = outcome([data], "h11")
    assert whole[0] == "head"
    assert outcome([data[:65], data[65:]], "h11") == whole


@given(REQUEST_LINES, st.lists(HEADER_LINES, max_size=5), ENDINGS, BODIES)
def test_structured_heads(line: bytes, headers: list[bytes], ending: bytes, body: bytes) -> None:
    check(ending.join([line, *headers, b"", b""]) + body)

"""The synchronous HTTP/1.1 machinery shared by the adapters: head scanning,
framing checks, header edits, pool bookkeeping, timers, access log lines."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwtransports._accesslog import AccessLog
from gwtransports._exchange import Exchange, ReplayBuffer
from gwtransports._http1 import (
    HeadScanner,
    HttpError,
    check_framing,
    client_headers,
    error_response,
    upstream_headers,
)
from gwtransports._pool_state import PoolState
from gwtransports._timers import Timer, Wait, expired

HEAD = b"GET /a/b?c=d HTTP/1.1\r\nhost: example.com\r\nx-long: " + b"v" * 100 + b"\r\n\r\n"


def _feed(scanner: HeadScanner, data: bytes, step: int) -> bool:
    done = False
    for i in range(0, len(data), step):
        done = scanner.feed(data[i : i + step])
    return done


@pytest.mark.parametrize("step", [1, 2, 7, 64, len(HEAD)])
def test_head_scanner_whole_split_and_trailing(step: int) -> None:
    scanner = HeadScanner(200, 1000)
    assert _feed(scanner, HEAD[:-1], step) is False
    assert scanner.feed(HEAD[-1:]) is True
    scanner.reset()
    assert _feed(scanner, HEAD + b"BODY BYTES\r\n \r\n", step) is True  # trailing body ignored
    assert HeadScanner(200, 1000).reset(HEAD) is True  # pipelined bytes already at hand


def test_head_scanner_fast_path_edges() -> None:
    assert HeadScanner(200, 1000).feed(b"GET") is False  # shorter than a head end
    assert HeadScanner(200, 1000).feed(b"\r\n\r") is False
    # a body after the head may hold anything, folded-looking lines included
    assert HeadScanner(200, 1000).feed(b"POST / HTTP/1.1\r\nx: 1\r\n\r\n\n y\n\tz\r\n\r\n")
    head = b"GET / HTTP/1.1\r\nx: 1\r\n\r\n"
    assert HeadScanner(len(head), len(head)).feed(head) is True  # exactly at the limits
    with pytest.raises(HttpError):
        HeadScanner(200, 1000).feed(b"GET / HTTP/1.1\r\nx: 1\r\n y\r\n\r\n")


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_head_scanner_limits_and_obs_fold(step: int) -> None:
    with pytest.raises(HttpError) as e:
        _feed(HeadScanner(50, 1000), b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n", step)
    assert e.value.status == 414
    with pytest.raises(HttpError) as e:
        _feed(HeadScanner(50, 1000), b"GET /" + b"a" * 100, step)  # no line end yet
    assert e.value.status == 414
    with pytest.raises(HttpError) as e:
        _feed(HeadScanner(200, 100), HEAD, step)
    assert e.value.status == 431
    for folded in (b"GET / HTTP/1.1\r\nx: 1\r\n  y\r\n\r\n", b"GET / HTTP/1.1\r\n\tx: 1\r\n\r\n"):
        with pytest.raises(HttpError) as e:
            _feed(HeadScanner(200, 1000), folded, step)
        assert (e.value.status, e.value.close) == (400, True)


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_head_scanner_result_or_http_error(data: bytes, step: int) -> None:
    scanner = HeadScanner(64, 128)
    try:
        _feed(scanner, data, step)
    except HttpError as exc:
        assert exc.status in (400, 414, 431)


def test_check_framing() -> None:
    assert check_framing([(b"content-length", b"12")], b"1.1") == (12, False, False)
    assert check_framing([(b"transfer-encoding", b"chunked")], b"1.1") == (None, True, False)
    assert check_framing([(b"expect", b"100-Continue")], b"1.1") == (None, False, True)
    both = [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")]
    with pytest.raises(HttpError) as e:
        check_framing(both, b"1.1")
    assert (e.value.status, e.value.close) == (400, True)
    with pytest.raises(HttpError):
        check_framing([(b"transfer-encoding", b"chunked")], b"1.0")


def test_client_headers_drop_hop_by_hop_and_connection_named() -> None:
    plain = [(b"content-length", b"2"), (b"x-a", b"1")]
    assert client_headers(plain) is plain  # nothing to drop: no copy
    dirty = [*plain, (b"connection", b"x-a, Keep-Alive"), (b"keep-alive", b"5"), (b"te", b"x")]
    assert client_headers(dirty) == [(b"content-length", b"2")]
    assert client_headers(dirty) == [(b"content-length", b"2")]  # the cached answer
    two = [(b"connection", b"x-a"), (b"x-a", b"1"), (b"connection", b"x-b"), (b"x-b", b"2")]
    assert client_headers([*two, (b"x-c", b"3")]) == [(b"x-c", b"3")]  # both are honoured
    assert client_headers([(b"connection", b"x-b"), (b"x-a", b"1")]) == [(b"x-a", b"1")]


def test_upstream_headers_framing_and_injection() -> None:
    fwd = (("host", "a"), ("expect", "100-continue"), ("content-length", "5"))
    assert upstream_headers(fwd, 5) == [(b"host", b"a"), (b"content-length", b"5")]
    assert upstream_headers(fwd, -1) == [(b"host", b"a"), (b"transfer-encoding", b"chunked")]
    assert upstream_headers(fwd, None) == [(b"host", b"a")]
    assert upstream_headers((), 0) == [(b"content-length", b"0")]
    for bad in ("a\r\nx-evil: 1", "a\nb", "a\0b", "a\0b\0c"):
        with pytest.raises(HttpError) as e:
            upstream_headers((("host", bad), ("x", "1")), None)
        assert e.value.status == 400


def test_error_response_body() -> None:
    headers, body = error_response(HttpError(413, "too big"), "rid-1")
    assert json.loads(body) == {
        "error": "payload_too_large",
        "detail": "too big",
        "request_id": "rid-1",
    }
    assert (b"connection", b"close") in headers
    assert (b"content-length", str(len(body)).encode()) in headers


def test_replay_buffer_keeps_small_bodies_only() -> None:
    buf = ReplayBuffer(limit=10)
    buf.add(b"12345")
    buf.add(b"678")
    buf.complete = True
    assert buf.replayable and b"".join(buf.chunks) == b"12345678"
    buf.add(b"abc")
    assert not buf.replayable and buf.chunks == []


def test_pool_state_lifo_expiry_bounds() -> None:
    pool: PoolState[str] = PoolState(idle_timeout=10, max_idle_per_key=2, max_idle=3)
    assert pool.checkout("k", 0) == (None, 0.0, [])
    assert pool.checkin("k", "a", 0) == []
    assert pool.checkin("k", "b", 1) == []
    assert pool.checkin("k", "c", 2) == ["c"]  # per-endpoint bound
    assert pool.checkin("j", "d", 2) == []
    assert pool.checkin("j", "e", 2) == ["e"]  # overall bound
    assert pool.idle_count == 3
    assert pool.checkout("k", 5) == ("b", 4.0, [])  # most recent first
    assert pool.next_expiry() == 10
    assert pool.expire(10.5) == ["a"]
    assert pool.checkout("j", 20) == (None, 0.0, ["d"])  # stale: closed, not reused
    assert pool.idle_count == 0
    pool.checkin("k", "f", 30)
    assert pool.discard("k", "f") and not pool.discard("k", "f")
    pool.checkin("k", "g", 30)
    assert pool.drain() == ["g"] and pool.idle_count == 0
    with pytest.raises(ValueError):
        PoolState(idle_timeout=0)


def test_timers_expire_once() -> None:
    a, b = Timer(), Timer()
    closed: list[str] = []

    class Up:
        def close(self) -> None:
            closed.append("up")

    a.arm(Wait.HEAD, 5.0)
    b.arm(Wait.UPSTREAM, 7.0, Up())
    assert expired([a, b], 4.0) == []
    assert expired([a, b], 6.0) == [a]
    assert (a.fired, a.kind, a.deadline) == (Wait.HEAD, Wait.NONE, float("inf"))
    assert expired([a, b], 6.0) == []  # disarmed: fires once
    [t] = expired([a, b], 8.0)
    assert t is b and b.fired is Wait.UPSTREAM and b.upstream is not None
    b.arm(Wait.IDLE, 9.0)
    # arming forgets the last expiry (mypy keeps the narrowing from the assert above)
    assert b.fired is Wait.NONE  # type: ignore[comparison-overlap]


@pytest.mark.parametrize("fmt", ["text", "json", "off"])
def test_access_log_lines(fmt: str) -> None:
    out = io.StringIO()
    log = AccessLog(out, fmt)
    ex = Exchange(1_700_000_000.25, "127.0.0.1", "GET", "/a?b", "rid-9")
    ex.route, ex.endpoint, ex.status, ex.bytes_out, ex.retries = "r", "http://u:1", 200, 12, 1
    log.log(ex, ex.start + 0.0125)
    assert out.getvalue() == ""  # buffered until flush
    log.flush()
    text = out.getvalue()
    if fmt == "off":
        assert text == ""
    elif fmt == "json":
        doc = json.loads(text)
        assert doc == {
            "time": "2023-11-14T22:13:20.250Z",
            "client": "127.0.0.1",
            "method": "GET",
            "target": "/a?b",
            "route": "r",
            "endpoint": "http://u:1",
            "status": 200,
            "bytes": 12,
            "duration_ms": 12.5,
            "retries": 1,
            "request_id": "rid-9",
        }
    else:
        assert text == (
            '2023-11-14T22:13:20.250Z 127.0.0.1 "GET /a?b" 200 12 12.50ms route=r '
            "endpoint=http://u:1 retries=1 id=rid-9\n"
        )
    with pytest.raises(ValueError):
        AccessLog(out, "xml")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"GET / x HTTP/1.1\r\nhost: a\r\n\r\n", "illegal request line: 'GET / x HTTP/1.1'"),
        (b"GET / HTTP/1.1\r\nho st: a\r\n\r\n", "illegal header line: 'ho st: a'"),
    ],
)
def test_parse_errors_quote_the_bytes_plainly(data: bytes, detail: str) -> None:
    from gwtransports._parser import H11ServerParser, ParseError  # noqa: PLC0415

    parser = H11ServerParser()
    parser.receive_data(data)
    with pytest.raises(ParseError) as info:
        parser.next_event()
    assert info.value.status == 400
    assert info.value.detail == detail

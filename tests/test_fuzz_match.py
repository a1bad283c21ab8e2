"""A short hypothesis run of fuzz/match_target.py, plus its seed corpus.

The target's invariant: arbitrary bytes as target/host/method, through
split_target + normalise_path + RouteTable.match, give a route whose prefix
covers the path, or a RequestError (NoRouteError, MethodNotAllowed); nothing else.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import load_target, standard_tests

check = load_target("match").check
test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes = standard_tests(
    "match", check, "# Invariant: arbitrary bytes as target/host/method", max_size=80
)

#: Request parts near what the table routes, so that hits are common too.
METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"get", b""]) | st.binary(max_size=6)
HOSTS = st.sampled_from(
    [
        *(b"", b"api.example.com", b"API.EXAMPLE.COM:80", b"a.example.com.", b"x.a.example.com"),
        *(b"127.0.0.1:1", b"[::1]", b"example.com"),
    ]
) | st.binary(max_size=20)
PATH_PIECES = st.sampled_from(
    [
        *(b"/", b"user", b"a", b"b", b"static", b"admin", b".", b"..", b"%2e", b"%2F", b"%C3%A9"),
        *(b"%", b"%7e", b"?", b"#", b"\\", b" ", b"\x00", b"\xff", b"//", b"http://x", b"t"),
    ]
)
TARGETS = st.lists(PATH_PIECES, max_size=8).map(b"".join) | st.binary(max_size=30)
HEADER_LINES = st.lists(
    st.sampled_from([b"x-canary: 1", b"X-Canary:1", b"x-canary: 2", b"junk"]), max_size=2
)


@given(METHODS, HOSTS, TARGETS, HEADER_LINES)
def test_structured_requests(method: bytes, host: bytes, target: bytes, lines: list[bytes]) -> None:
    parts = [method.replace(b"\n", b""), host.replace(b"\n", b""), target.replace(b"\n", b"")]
    check(b"\n".join(parts + lines))

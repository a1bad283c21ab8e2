"""Request targets: split_target, normalise_path and rewrite_path."""

from __future__ import annotations

import posixpath
import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gwcore.errors import RequestError
from gwcore.rewrite import (
    _canonical_chars,
    _remove_dot_segments,
    normalise_path,
    rewrite_path,
    split_target,
)

# Raw path material: every character class the normaliser treats differently
# (pchars, dots, slashes, escapes valid and not, characters to encode or refuse).
PATH_TEXT = st.text(
    alphabet=st.sampled_from(list("/.%2eEfF5cC0aZ~-_:@!$&'()*+,;=\"<>[]^`{|}\\#? \t\x00é")),
    max_size=24,
)
# Paths as clients commonly send them: '/' plus segments, sometimes dotted.
SEGMENT = st.sampled_from(["a", "b", "user", ".", "..", "", "%2e%2E", "%7Euser", "x.y", ".well"])
PATHS = st.lists(SEGMENT, max_size=6).map(lambda segments: "/" + "/".join(segments)) | PATH_TEXT
# Normal-form prefixes and rewrites ('/', '/a', '/a/b/').
NORMAL_PREFIXES = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(st.sampled_from(["a", "b", "user", "v1", "~x", "%20"]), max_size=3),
    st.booleans(),
)
# What may follow a prefix in a path it matches: nothing, '/', or more segments.
TAILS = st.sampled_from(["", "/", "/x", "/x/", "/x/y", "/%20/z"])
QUERIES = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)

_PCHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2}")


# --- split_target ------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", ("/", "")),
        ("/a/b", ("/a/b", "")),
        ("/a?", ("/a", "")),
        ("/a?x=1&y=2", ("/a", "x=1&y=2")),
        ("/a?x=?&y=/..", ("/a", "x=?&y=/..")),
        ("/a/../b?q", ("/a/../b", "q")),
        ("//evil.example/x?q", ("//evil.example/x", "q")),
        ("*", ("*", "")),
    ],
)
def test_split_target(target: str, expected: tuple[str, str]) -> None:
    assert split_target(target) == expected
    if target != "*":
        # With trailing data: more query is more query; a longer path keeps its query.
        path, query = expected
        if "?" in target:
            assert split_target(target + "&z") == (path, query + "&z")
        assert split_target(path + "/more" + target[len(path) :]) == (path + "/more", query)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("", "empty request target"),
        ("http://example.com/a", "origin-form"),
        ("example.com:443", "origin-form"),
        ("a/b", "origin-form"),
        ("**", "origin-form"),
        ("/a?x#frag", "invalid character '#' in query"),
        ("/a?x y", "invalid character ' ' in query"),
        ("/a?\x7f", "invalid character '\\x7f' in query"),
        ("/a?é", "invalid character 'é' in query"),
    ],
)
def test_split_target_rejects(target: str, reason: str) -> None:
    with pytest.raises(RequestError) as caught:
        split_target(target)
    assert reason in caught.value.reason
    assert caught.value.status_hint == 400


@given(PATH_TEXT.map(lambda p: "/" + p.replace("?", "")), QUERIES.map(lambda q: q.replace("#", "")))
def test_split_target_round_trips(path: str, query: str) -> None:
    assert split_target(f"{path}?{query}") == (path, query)


# --- normalise_path ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/", "/"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("//", "/"),
        ("///a//b//", "/a/b/"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a//../b", "/b"),  # empty segments are dropped before '..' applies
        ("/.well-known/x", "/.well-known/x"),
        ("/a/.../b", "/a/.../b"),
        ("/a/%2e%2E/b", "/b"),  # encoded dots are dots
        ("/a/%2e/b", "/a/b"),
        ("/%7euser", "/~user"),
        ("/%41%62%30%2D%5F%7E", "/Ab0-_~"),
        ("/a%2fb".replace("%2f", "%3a"), "/a%3Ab"),  # reserved stays encoded, upper-cased
        ("/%c3%a9", "/%C3%A9"),
        ("/%25", "/%25"),
        ("/%252F", "/%252F"),  # decoded exactly once
        ("/%20", "/%20"),
        ('/a"b', "/a%22b"),
        ("/<>[]^`{|}", "/%3C%3E%5B%5D%5E%60%7B%7C%7D"),
        ("/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="),
    ],
)
def test_normalise_path(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal
    assert normalise_path(normal) == normal
    # With trailing data: a further segment stays a further segment.
    assert normalise_path(raw + "/z") == normal.rstrip("/") + "/z"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "must start with '/'"),
        ("*", "must start with '/'"),
        ("a/b", "must start with '/'"),
        ("/a%2Fb", "encoded '/'"),
        ("/a%2fb", "encoded '/'"),
        ("/a%5cb", "encoded '\\'"),
        ("/a%5Cb", "encoded '\\'"),
        ("/a%00", "encoded NUL"),
        ("/a%", "malformed percent escape"),
        ("/a%2", "malformed percent escape"),
        ("/a%zz", "malformed percent escape"),
        ("/a%+1", "malformed percent escape"),
        ("/a%-1", "malformed percent escape"),
        ("/a\\b", "backslash"),
        ("/a b", "invalid character ' '"),
        ("/a\tb", "invalid character '\\t'"),
        ("/a\x00", "invalid character '\\x00'"),
        ("/a\x7f", "invalid character '\\x7f'"),
        ("/é", "invalid character 'é'"),
        ("/a#b", "fragment"),
        ("/a?b", "'?' in path"),
    ],
)
def test_normalise_path_rejects(raw: str, reason: str) -> None:
    with pytest.raises(RequestError) as caught:
        normalise_path(raw)
    assert reason in caught.value.reason
    if raw:
        # With trailing data the path stays rejected.
        with pytest.raises(RequestError):
            normalise_path(raw + "/ok")


def test_canonical_input_is_returned_without_copying() -> None:
    path = "".join(["/api/", "v1/users"])
    assert normalise_path(path) is path


@pytest.mark.parametrize("code", range(256))
def test_every_escape(code: int) -> None:
    char = chr(code)
    raw = f"/a%{code:02x}b"
    if code in (0x00, 0x2F, 0x5C):
        with pytest.raises(RequestError):
            normalise_path(raw)
    elif char.isascii() and (char.isalnum() or char in "-._~"):
        assert normalise_path(raw) == f"/a{char}b"
    else:
        assert normalise_path(raw) == f"/a%{code:02X}b"


@given(PATHS)
@example("/a/%2e%2e/%2e%2e/..")
def test_normalise_is_idempotent_and_safe(raw: str) -> None:
    try:
        normal = normalise_path(raw)
    except RequestError:
        return
    assert normalise_path(normal) == normal
    assert normal.startswith("/")
    assert "//" not in normal
    assert all(segment not in (".", "..") for segment in normal.split("/"))
    assert "".join(_PCHARS.findall(normal)) == normal
    # The slow path agrees with the fast one on everything the fast one takes.
    assert _remove_dot_segments(_canonical_chars(raw)) == normal


@given(PATHS)
def test_normalise_matches_posix_path_resolution(raw: str) -> None:
    """Dot segments resolve as POSIX resolves them after '//' is merged: nothing
    climbs above the root (posixpath is an independent implementation)."""
    assume("%" not in raw and not any(char in raw for char in '"<>[]^`{|}'))
    try:
        normal = normalise_path(raw)
    except RequestError:
        return
    assert (normal.rstrip("/") or "/") == posixpath.normpath(re.sub("/+", "/", raw))


@given(st.text(max_size=20))
def test_arbitrary_text_is_normalised_or_refused_with_request_error(raw: str) -> None:
    try:
        normal = normalise_path(raw)
    except RequestError as exc:
        assert exc.reason
        assert exc.status_hint == 400
    else:
        assert normalise_path(normal) == normal


# --- rewrite_path ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "prefix", "rewrite", "upstream"),
    [
        ("/user/x", "/user/", "/", "/x"),
        ("/user", "/user/", "/", "/"),
        ("/user/", "/user/", "/", "/"),
        ("/user/x/y/", "/user/", "/", "/x/y/"),
        ("/user/x", "/user/", "/user/", "/user/x"),
        ("/user", "/user/", "/user/", "/user"),
        ("/user/", "/user", "/user", "/user/"),
        ("/user/x", "/user", "/api/", "/api/x"),
        ("/user/", "/user", "/api/", "/api/"),
        ("/user", "/user", "/api/", "/api"),
        ("/user/x", "/user/", "/api", "/api/x"),
        ("/x", "/", "/api/", "/api/x"),
        ("/", "/", "/api/", "/api/"),
        ("/", "/", "/", "/"),
        ("/a/b/c", "/a/b", "/z/", "/z/c"),
    ],
)
def test_rewrite_path(path: str, prefix: str, rewrite: str, upstream: str) -> None:
    assert rewrite_path(path, prefix, rewrite) == upstream


@pytest.mark.parametrize(
    ("path", "prefix", "rewrite"),
    [
        ("/users", "/user", "/"),
        ("/users", "/user/", "/"),
        ("/other", "/user/", "/"),
        ("/", "/user", "/"),
        ("/user/x", "/user/", "api/"),
        ("/user/x", "/user/", ""),
    ],
)
def test_rewrite_path_misuse(path: str, prefix: str, rewrite: str) -> None:
    with pytest.raises(ValueError, match=r"must start with|does not match"):
        rewrite_path(path, prefix, rewrite)


@given(NORMAL_PREFIXES, NORMAL_PREFIXES, TAILS)
def test_rewrite_properties(prefix: str, rewrite: str, tail: str) -> None:
    path = (prefix.rstrip("/") + tail) or "/"
    upstream = rewrite_path(path, prefix, rewrite)
    assert "//" not in upstream
    assert all(segment not in (".", "..") for segment in upstream.split("/"))
    if path == prefix.rstrip("/"):
        # Ends exactly at the prefix without '/': so does the upstream path.
        assert upstream == (rewrite.rstrip("/") or "/")
    else:
        assert upstream.startswith(rewrite)
    assert rewrite_path(path, prefix, prefix) == path  # rewrite == prefix: identity
    if tail not in ("", "/"):
        # Rewriting back gives the request path again.
        assert rewrite_path(upstream, rewrite, prefix) == path

"""The admin fuzz target's corpus and a short hypothesis run of it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import load_target, standard_tests

check = load_target("admin").check
test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes = standard_tests(
    "admin", check, "# Invariant: any admin request", max_size=120
)

_METHODS = st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"])
_PATHS = st.sampled_from(
    ["/health", "/routes", "/routes/usermapping", "/routes/x?dry_run=1", "/services/users",
     "/services/users/instances", "/services/users/instances/abc", "/config", "/config?dry_run=1",
     "/explain?path=/user/1", "/stats", "/metrics", "/routes/%2F", "/services/a%20b"]
) | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
    lambda t: "/" + t
)  # fmt: skip
_BODIES = st.binary(max_size=80) | st.sampled_from(
    [b'{"prefix": "/x", "service": "users"}', b'{"endpoints": []}', b'{"url": "http://h:1"}',
     b'{"routes": {}, "services": {}}', b"null", b"[]", b'{"prefix": "/x", "respond": {}}']
)  # fmt: skip


@given(_METHODS, _PATHS, _BODIES, st.booleans())
def test_any_request(method: str, path: str, body: bytes, yaml_body: bool) -> None:
    content_type = b"application/yaml" if yaml_body else b"application/json"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: admin\r\n".encode()
        + b"Content-Type: " + content_type + b"\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )  # fmt: skip
    check(head + body)

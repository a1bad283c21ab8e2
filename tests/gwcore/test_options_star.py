"""``OPTIONS *`` asks about the gateway itself (RFC 9110 9.3.7); ``*`` is no
target for any other method."""

from __future__ import annotations

import pytest

from gwcore.config import from_dict
from gwcore.errors import RequestError
from gwcore.events import Request, Respond
from gwcore.gateway import Gateway

CONFIG = from_dict(
    {
        "services": {"s": {"endpoints": [{"url": "http://127.0.0.1:9001"}]}},
        "routes": {"all": {"prefix": "/", "service": "s"}},
    }
)


def test_options_star_is_answered_by_the_gateway() -> None:
    gw = Gateway(CONFIG)
    answer = gw.decide(
        Request(method="OPTIONS", target="*", headers=(("host", "a"),), request_id="r1"), 1.0
    )
    assert answer == Respond(
        request_id="r1",
        route="*",
        status=200,
        headers=(("allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),),
    )
    # no route counted it
    assert [r.requests for r in gw.stats(1.0).routes] == [0]


@pytest.mark.parametrize("method", ["GET", "options", "POST"])
def test_star_is_a_bad_target_for_other_methods(method: str) -> None:
    with pytest.raises(RequestError) as info:
        Gateway(CONFIG).decide(Request(method=method, target="*"), 1.0)
    assert info.value.status_hint == 400

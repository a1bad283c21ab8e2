"""The error tree: one root, status hints per branch, overridable per instance."""

from __future__ import annotations

import pytest

from gwcore.errors import (
    ConfigError,
    FieldError,
    GatewayError,
    MethodNotAllowed,
    NoHealthyEndpoint,
    NoRouteError,
    RequestError,
    UpstreamError,
    UpstreamTimeout,
)


def test_root_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        GatewayError("x")


@pytest.mark.parametrize(
    ("cls", "status", "parent"),
    [
        (RequestError, 400, GatewayError),
        (NoRouteError, 404, RequestError),
        (MethodNotAllowed, 405, RequestError),
        (UpstreamError, 502, GatewayError),
        (NoHealthyEndpoint, 503, UpstreamError),
        (UpstreamTimeout, 504, UpstreamError),
    ],
)
def test_status_hints_follow_the_tree(
    cls: type[GatewayError], status: int, parent: type[GatewayError]
) -> None:
    error = cls("because")
    assert error.status_hint == status
    assert isinstance(error, parent)
    assert error.reason == "because"
    assert repr(error) == f"{cls.__name__}('because', status_hint={status})"


def test_instance_may_override_the_hint() -> None:
    error = RequestError("URI too long", status_hint=414)
    assert error.status_hint == 414
    assert RequestError("x").status_hint == 400
    assert RequestError("x").route is None
    assert NoHealthyEndpoint("x", route="users").route == "users"


def test_method_not_allowed_carries_allowed() -> None:
    assert MethodNotAllowed("no", allowed=("GET", "HEAD")).allowed == ("GET", "HEAD")


def test_config_error_lists_field_errors() -> None:
    error = ConfigError([FieldError("routes.a.prefix", "must start with '/'"), FieldError("", "x")])
    assert str(error) == "routes.a.prefix: must start with '/'; x"
    assert error.status_hint == 400
    assert ConfigError("plain").errors == (FieldError("", "plain"),)
    with pytest.raises(ValueError, match="at least one"):
        ConfigError([])

"""gwcore: the pure, sans-IO core of the gw API gateway.

Given a request head and the current time, gwcore decides the route, the
rewritten path, the endpoint, and what to do when the endpoint fails. It does no
I/O, reads no clock and starts no thread: every time-dependent call takes
``now`` (monotonic seconds) and randomness is injected. gwcore raises only
:class:`~gwcore.errors.GatewayError` subclasses (or ``TypeError``/``ValueError``/
``RuntimeError`` for caller misuse); anything else is a bug.
"""

from __future__ import annotations

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

__all__ = [
    "ConfigError",
    "FieldError",
    "GatewayError",
    "MethodNotAllowed",
    "NoHealthyEndpoint",
    "NoRouteError",
    "RequestError",
    "UpstreamError",
    "UpstreamTimeout",
]

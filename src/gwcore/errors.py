"""The one error tree of gwcore.

Every failure the core reports is a :class:`GatewayError`. A transport answers a
client with ``exc.status_hint`` and ``exc.reason``; it never has to map anything
else. Anything else escaping from gwcore (other than ``TypeError``/``ValueError``/
``RuntimeError`` for caller misuse) is a bug.

::

    GatewayError                      (abstract, never raised itself)
    ├── ConfigError                   config or store payload rejected; never shown to clients
    ├── RequestError          400     the client's request cannot be served as sent
    │   ├── NoRouteError      404     no route matches
    │   └── MethodNotAllowed  405     a route matches the path but not the method
    └── UpstreamError         502     the upstream failed
        ├── NoHealthyEndpoint 503     every endpoint is ejected, draining or missing
        └── UpstreamTimeout   504     the upstream did not answer in time

``status_hint`` is a class default that an instance may override (as h11 lets a
``RemoteProtocolError`` carry 414 or 431 instead of 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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


class GatewayError(Exception):
    """Root of every error gwcore raises on purpose.

    Args:
        reason: A short, human-readable cause, safe to show to a client (except for
            :class:`ConfigError`, which goes to operators only).
        status_hint: The HTTP status a transport should answer with; defaults to the
            class's ``status_hint``.
        route: Name of the route the request matched, when it got that far (for
            access logs and stats); ``None`` otherwise.

    Raises:
        TypeError: When instantiated directly; raise a subclass.
    """

    status_hint: int = 500
    #: The matched route's name, when the request got that far.
    route: str | None = None
    #: A stable, machine-readable name for the error body (``{"error": code}``).
    code: ClassVar[str] = "gateway_error"

    def __init__(
        self, reason: str, *, status_hint: int | None = None, route: str | None = None
    ) -> None:
        if type(self) is GatewayError:
            raise TypeError("GatewayError is abstract; raise one of its subclasses")
        super().__init__(reason)
        self.reason = reason
        if status_hint is not None:
            self.status_hint = status_hint
        if route is not None:
            self.route = route

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, status_hint={self.status_hint})"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem, anchored at a field path.

    Attributes:
        path: Dotted path into the config, e.g. ``routes.usermapping.prefix`` or
            ``services.users.endpoints[2].url``; empty for the document root.
        message: What is wrong and, where possible, what would be right.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(GatewayError):
    """A config (file, admin write, etcd entry) was rejected as a whole.

    Attributes:
        errors: Every problem found, each with its field path; never empty.
    """

    status_hint = 400
    code = "invalid_config"

    def __init__(self, errors: list[FieldError] | tuple[FieldError, ...] | str) -> None:
        if isinstance(errors, str):
            errors = (FieldError("", errors),)
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("ConfigError needs at least one FieldError")
        super().__init__("; ".join(str(e) for e in self.errors))


class RequestError(GatewayError):
    """The client's request cannot be served as sent (bad target, forbidden path)."""

    status_hint = 400
    code = "bad_request"


class NoRouteError(RequestError):
    """No route matches the request's host and path."""

    status_hint = 404
    code = "no_route"
    #: The reason of the common 404. An instance made without ``__init__`` (the
    #: router's miss path: ``NoRouteError.__new__(NoRouteError, reason)``, about
    #: 0.3 µs cheaper) reads it from here; ``__init__`` always sets its own.
    reason = "no route matches this host and path"


class MethodNotAllowed(RequestError):
    """A route matches the path, but none of the matching routes accepts the method.

    Attributes:
        allowed: The methods that would have matched, for the ``Allow`` header.
    """

    status_hint = 405
    code = "method_not_allowed"

    def __init__(self, reason: str, *, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.allowed = allowed


class UpstreamError(GatewayError):
    """The upstream could not be reached or failed on every allowed try."""

    status_hint = 502
    code = "bad_gateway"


class NoHealthyEndpoint(UpstreamError):
    """Every endpoint of the service is ejected, draining or unresolved."""

    status_hint = 503
    code = "no_healthy_endpoint"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the response timeout."""

    status_hint = 504
    code = "upstream_timeout"

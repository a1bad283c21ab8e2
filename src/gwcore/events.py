"""Events in, commands out: the vocabulary between gwcore and a transport.

Theory of operation
-------------------
A transport turns what happens on the wire and in the store into *events*
(past-tense facts: a request head arrived, a connect failed, an etcd key changed)
and hands them to a :class:`gwcore.gateway.Gateway` together with ``now``. The
gateway answers with *commands* (imperative: forward this request there, answer
with this, send this probe). The transport carries them out and reports how it
went with further events. gwcore never does I/O and never reads a clock.

One request's life::

    Request ──decide──▶ Forward ──(connect, send, read head)──▶ outcome(event)
                           ▲                                        │
                           └──────────── Forward (a retry) ◀────────┤
                                                                    ├─ None: stream the
                                                                    │  response, then finish()
                                                                    └─ raises UpstreamError

Every :class:`Forward` a transport starts ends exactly once: by an ``outcome``
that returns a retry (the old attempt ends), by an ``outcome`` that raises, or by
``finish`` after the response was streamed (or abandoned).

All events and commands are frozen, slotted, keyword-only dataclasses with
hashable fields, validated in ``__post_init__`` so that an invalid one cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

__all__ = [
    "Applied",
    "Change",
    "Command",
    "ConfigReplaced",
    "ConnectFailed",
    "EtcdKeyDeleted",
    "EtcdKeySet",
    "EtcdReachable",
    "EtcdUnreachable",
    "Event",
    "Forward",
    "InstanceDeregistered",
    "InstanceHeartbeat",
    "InstanceRegistered",
    "Outcome",
    "ProbeFailed",
    "ProbeSucceeded",
    "Request",
    "Respond",
    "ResponseReceived",
    "RouteDeleted",
    "RouteUpserted",
    "ServiceDeleted",
    "ServiceUpserted",
    "StartProbe",
    "UpstreamReset",
    "UpstreamTimedOut",
]


class Event:
    """Base of every input event; never instantiated itself."""

    __slots__ = ()


class Command:
    """Base of every output command; never instantiated itself."""

    __slots__ = ()


def _check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    for item in headers:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"headers must be (name, value) pairs, got {item!r}")


# --------------------------------------------------------------------------- requests


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Request(Event):
    """A client's request head has arrived.

    Attributes:
        method: Request method as sent (case-sensitive, RFC 9110 9.1).
        target: Request target as sent (``/path?query``, or ``*``).
        headers: Header fields in arrival order; names lower-cased, values as sent
            (latin-1 decoded).
        client: Client IP address (for ``X-Forwarded-For`` and ``hash(client_ip)``).
        scheme: ``"https"`` when the listener terminated TLS, else ``"http"``.
        request_id: A fresh id made by the transport; used when the client sent no
            valid ``X-Request-Id`` of its own.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    client: str = ""
    scheme: str = "http"
    request_id: str = ""

    def __post_init__(self) -> None:
        if not self.method:
            raise ValueError("method must not be empty")
        _check_headers(self.headers)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Forward(Command):
    """Send the request to this upstream endpoint.

    Attributes:
        request_id: The request's id (kept from the client or the transport's).
        route: Name of the matched route.
        service: Name of the chosen service.
        endpoint: Identity of the chosen endpoint (its resolved base URL).
        scheme: ``"http"`` or ``"https"``.
        host: Upstream host to connect to.
        port: Upstream port.
        target: Rewritten origin-form target to send (path and query).
        headers: Every header to send upstream, in order: the client's minus
            hop-by-hop ones, plus ``Host``, ``X-Forwarded-*``, ``Via`` and
            ``X-Request-Id``. Framing headers (``Content-Length``) are kept as the
            client sent them; the transport frames the body.
        attempt: 0 for the first try, 1 for the first retry, ...
        tried: Endpoints tried for this request so far, this one included.
        idempotent: Whether the request may be repeated after its bytes went out.
        connect_timeout: Seconds to establish the upstream connection.
        response_timeout: Seconds to wait for the upstream's response head.
        max_body: Request body limit in bytes (``None``: unlimited) -> 413.
        panic: The endpoint was picked while every endpoint was ejected.
    """

    request_id: str
    route: str
    service: str
    endpoint: str
    scheme: str
    host: str
    port: int
    target: str
    headers: tuple[tuple[str, str], ...]
    attempt: int = 0
    tried: frozenset[str] = frozenset()
    idempotent: bool = True
    connect_timeout: float = 2.0
    response_timeout: float = 30.0
    max_body: int | None = None
    panic: bool = False

    def __post_init__(self) -> None:
        if self.scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, got {self.scheme!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")
        if self.attempt < 0:
            raise ValueError("attempt must be >= 0")
        _check_headers(self.headers)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Respond(Command):
    """Answer the client directly (a ``respond:`` route).

    Attributes:
        request_id: The request's id.
        route: Name of the matched route.
        status: HTTP status.
        headers: Response headers (the transport adds framing and ``Date``).
        body: Response body.
    """

    request_id: str
    route: str
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 599:
            raise ValueError(f"status must be 200..599, got {self.status}")
        _check_headers(self.headers)


# --------------------------------------------------------------------------- outcomes


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed(Event):
    """The upstream connection (TCP or TLS) could not be established in time.

    Attributes:
        reason: Short cause for logs and the error body (``"connection refused"``).
    """

    reason: str = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamTimedOut(Event):
    """No response head arrived within the response timeout.

    Attributes:
        request_sent: Whether any byte of the request had been written.
    """

    request_sent: bool = True


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamReset(Event):
    """The upstream connection broke.

    Attributes:
        request_sent: Whether any byte of the request had been written.
        response_started: Whether any byte of the response had been forwarded to
            the client (then nothing can be retried; the client connection closes).
        reason: Short cause.
    """

    request_sent: bool = True
    response_started: bool = False
    reason: str = ""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(Event):
    """The upstream's response head arrived.

    Attributes:
        status: Its status code.
        latency: Seconds from the start of this attempt to the response head.
    """

    status: int
    latency: float

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be 100..599, got {self.status}")
        if self.latency < 0:
            raise ValueError("latency must be >= 0")


#: What a transport reports about one attempt.
Outcome = ConnectFailed | UpstreamTimedOut | UpstreamReset | ResponseReceived


# --------------------------------------------------------------------------- probes


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class StartProbe(Command):
    """Send an active health probe (``GET path``) to one endpoint.

    Attributes:
        service: Service the endpoint belongs to.
        endpoint: Endpoint identity, to report the result with.
        scheme: ``"http"`` or ``"https"``.
        host: Host to connect to.
        port: Port to connect to.
        target: Origin-form target of the probe.
        timeout: Seconds after which the probe counts as failed.
    """

    service: str
    endpoint: str
    scheme: str
    host: str
    port: int
    target: str
    timeout: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSucceeded(Event):
    """An active probe got a 2xx/3xx answer."""

    service: str
    endpoint: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeFailed(Event):
    """An active probe failed (no connection, timeout, 4xx/5xx)."""

    service: str
    endpoint: str
    reason: str = ""


# The change events and their answer live in their own module (they subclass the
# bases above, so it is imported once those exist); this is their import path.
from gwcore._change_events import (  # noqa: E402
    Applied,
    Change,
    ConfigReplaced,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)

"""gwcore: the pure, sans-IO core of the gw API gateway.

Given a request head and the current time, gwcore decides the route, the
rewritten path, the endpoint, and what to do when the endpoint fails. It does no
I/O, reads no clock and starts no thread: every time-dependent call takes
``now`` (monotonic seconds) and randomness is injected. gwcore raises only
:class:`~gwcore.errors.GatewayError` subclasses (or ``TypeError``/``ValueError``/
``RuntimeError`` for caller misuse); anything else is a bug.
"""

from __future__ import annotations

from gwcore.config import (
    Config,
    from_dict,
    to_dict,
)
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
from gwcore.events import (
    Applied,
    ConfigReplaced,
    ConnectFailed,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    Forward,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    ProbeFailed,
    ProbeSucceeded,
    Request,
    Respond,
    ResponseReceived,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
    StartProbe,
    UpstreamReset,
    UpstreamTimedOut,
)
from gwcore.gateway import Gateway
from gwcore.routes import RouteTable
from gwcore.stats import GatewayStats

__version__ = "0.1.0"

__all__ = [
    "Applied",
    "Config",
    "ConfigError",
    "ConfigReplaced",
    "ConnectFailed",
    "EtcdKeyDeleted",
    "EtcdKeySet",
    "EtcdReachable",
    "EtcdUnreachable",
    "FieldError",
    "Forward",
    "Gateway",
    "GatewayError",
    "GatewayStats",
    "InstanceDeregistered",
    "InstanceHeartbeat",
    "InstanceRegistered",
    "MethodNotAllowed",
    "NoHealthyEndpoint",
    "NoRouteError",
    "ProbeFailed",
    "ProbeSucceeded",
    "Request",
    "RequestError",
    "Respond",
    "ResponseReceived",
    "RouteDeleted",
    "RouteTable",
    "RouteUpserted",
    "ServiceDeleted",
    "ServiceUpserted",
    "StartProbe",
    "UpstreamError",
    "UpstreamReset",
    "UpstreamTimedOut",
    "UpstreamTimeout",
    "__version__",
    "from_dict",
    "to_dict",
]

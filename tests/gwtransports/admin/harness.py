"""Drive the pure admin handlers the way the admin server does, without sockets."""

from __future__ import annotations

import json
from typing import Any

from gwcore.config import Config, from_dict
from gwcore.errors import ConfigError
from gwcore.gateway import Gateway
from gwtransports.admin.handlers import (
    AdminContext,
    AdminRequest,
    Response,
    handle,
    refused_response,
    write_response,
)

BASE: dict[str, Any] = {
    "services": {"users": {"endpoints": [{"url": "http://127.0.0.1:9001"}]}},
    "routes": {"usermapping": {"prefix": "/user/", "service": "users"}},
}


def gateway(data: dict[str, Any] | None = None) -> Gateway:
    """A real gateway on ``data`` (default: one service, one route)."""
    return Gateway(from_dict(BASE if data is None else data))


def call(
    gw: Gateway,
    method: str,
    target: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    context: AdminContext | None = None,
    now: float = 0.0,
) -> Response:
    """One admin request: handle, then apply the write (as the server does)."""
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = AdminRequest(method=method, target=target, headers=headers, body=payload)
    result = handle(request, gw, context or AdminContext(), now)
    if isinstance(result, Response):
        return result
    try:
        applied = gw.apply(result.change, now)
    except ConfigError as exc:
        return refused_response(result, exc)
    return write_response(result, applied)


def data(response: Response) -> Any:
    """The JSON body of a response."""
    return json.loads(response.body)


def snapshot(gw: Gateway) -> tuple[Config, int]:
    """What must not move when a write is refused."""
    return gw.config, gw.generation

"""The admin API as pure functions: a request and a gateway snapshot in, a reply out.

Theory of operation
-------------------
:func:`handle` never does I/O and never changes anything. It answers reads
(``GET``) with a :class:`Response` at once. For a write it builds the candidate
config, validates it with :func:`gwcore.config.from_dict` (so a 400 lists every
error with its field path) and returns a :class:`Write`: the one
:class:`~gwcore.events.Change` to apply plus the diff. The server then applies it
through the gateway (which may still refuse it: conflicts found by the router),
persists it, and only then acknowledges it with :func:`write_response`. A
``?dry_run=1`` write stops after validation and answers with the diff.

Because the handler is pure, a test (or the fuzz target) can throw any request at
it with a fake gateway and check the answer without a socket.
"""

from __future__ import annotations

import hmac
import re
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from gwcore.config import Config
from gwcore.errors import ConfigError, FieldError, GatewayError
from gwcore.events import (
    Applied,
    Change,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
)
from gwtransports.admin import _render, _writes
from gwtransports.admin._types import (
    MAX_BODY,
    AdminContext,
    AdminRequest,
    Response,
    StoreStatus,
    Write,
    error_response,
    instance_id,
    ok,
    route_name_for,
)

__all__ = [
    "MAX_BODY",
    "AdminContext",
    "AdminRequest",
    "GatewayView",
    "Response",
    "StoreStatus",
    "Write",
    "error_response",
    "explain_body",
    "handle",
    "instance_id",
    "refused_response",
    "route_name_for",
    "write_response",
]


class GatewayView(Protocol):
    """What the handlers read from the gateway (a :class:`gwcore.gateway.Gateway`)."""

    @property
    def config(self) -> Config: ...

    @property
    def generation(self) -> int: ...

    def stats(self, now: float) -> object: ...

    def explain(
        self, method: str, host: str, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> object: ...

    def choose(
        self, method: str, host: str, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> object: ...


def _authorized(request: AdminRequest, token: str | None) -> bool:
    if token is None:
        return True
    given = request.header("authorization") or ""
    scheme, _, value = given.partition(" ")
    # compare_digest takes the same time wherever the first difference is, so the
    # token cannot be guessed byte by byte from response times.
    ok = hmac.compare_digest(value.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and ok


def health_body(view: GatewayView, context: AdminContext) -> dict[str, Any]:
    """The ``/health`` document."""
    store = context.store
    body: dict[str, Any] = {
        "ok": True,
        "version": context.version,
        "store": {
            "kind": store.kind,
            "ok": store.ok,
            "stale_since": store.stale_since,
            "detail": store.detail,
        },
        "generation": view.generation,
    }
    if store.etcd_ok is not None:
        # etcd(key, default) endpoints watched while the store is the state file.
        body["etcd"] = {"ok": store.etcd_ok, "stale_since": store.etcd_stale_since}
    return body


_NAME = r"([^/]+)"
_ROUTES: tuple[tuple[re.Pattern[str], str, frozenset[str]], ...] = tuple(
    (re.compile(f"^{pattern}$"), kind, frozenset(methods.split()))
    for pattern, kind, methods in (
        ("/health", "health", "GET HEAD"),
        ("/routes", "routes", "GET POST"),
        (f"/routes/{_NAME}", "route", "GET PUT DELETE"),
        ("/services", "services", "GET"),
        (f"/services/{_NAME}", "service", "GET PUT DELETE"),
        (f"/services/{_NAME}/instances", "instances", "POST"),
        (f"/services/{_NAME}/instances/{_NAME}", "instance", "PUT DELETE"),
        ("/stats", "stats", "GET"),
        ("/metrics", "metrics", "GET"),
        ("/explain", "explain", "GET"),
        ("/config", "config", "GET PUT"),
    )
)


def handle(
    request: AdminRequest, view: GatewayView, context: AdminContext, now: float
) -> Response | Write:
    """Answer one admin request.

    Args:
        request: The request, body read whole.
        view: The running gateway (read only).
        context: Token, version and store status.
        now: Monotonic time, for stats.

    Returns:
        A :class:`Response` to send now, or a :class:`Write` to apply, persist and
        then answer with :func:`write_response`.
    """
    path, _, query_text = request.target.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    for pattern, kind, methods in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if request.method not in methods:
            allow = ", ".join(sorted(methods))
            return error_response(
                405, "method_not_allowed", f"{request.method} {path}; allowed: {allow}",
                headers=(("allow", allow),),
            )  # fmt: skip
        if kind != "health" and not _authorized(request, context.token):
            return error_response(401, "unauthorized", "missing or wrong bearer token")
        names = tuple(unquote(g) for g in match.groups())
        try:
            return _dispatch(
                kind, names, request=request, query=query, view=view, context=context, now=now
            )
        except ConfigError as exc:
            return error_response(400, exc.code, "the write was refused", exc.errors)
    return error_response(404, "not_found", f"no admin resource at {path}")


def _dispatch(
    kind: str,
    names: tuple[str, ...],
    *,
    request: AdminRequest,
    query: dict[str, str],
    view: GatewayView,
    context: AdminContext,
    now: float,
) -> Response | Write:
    method = request.method
    dry_run = query.get("dry_run", "") not in ("", "0", "false")
    if kind == "health":
        return ok(health_body(view, context))
    if kind == "stats":
        return ok(_render.stats_json(view.stats(now)))
    if kind == "metrics":
        body = _render.prometheus(_render.stats_json(view.stats(now)), health_body(view, context))
        return Response(status=200, body=body, content_type="text/plain; version=0.0.4")
    if kind == "explain":
        return _explain(query, view)
    if kind == "instances":
        return _register(names[0], request, view, dry_run)
    if kind == "instance":
        return _instance(method, names[0], names[1], view, dry_run)
    if kind == "config" and method == "GET":
        return _writes.get_config(request, view.config)
    if method == "GET":
        return _writes.read(kind, names, view.config)
    write = _writes.build(kind, method, names, request, view.config)
    if isinstance(write, Response):
        return write
    if dry_run:
        return ok({"dry_run": True, "changed": bool(write.diff), "diff": list(write.diff)})
    return write


def _explain(query: dict[str, str], view: GatewayView) -> Response:
    path = query.get("path", "")
    if not path.startswith("/"):
        detail = "query parameter path is required and must start with '/'"
        return error_response(400, "bad_request", detail, (FieldError("path", detail),))
    method = query.get("method", "GET") or "GET"
    host = query.get("host", "")
    return ok(explain_body(view, method, host, path))


def explain_body(view: GatewayView, method: str, host: str, path: str) -> dict[str, Any]:
    """The ``/explain`` document (also what ``gw explain -c FILE`` prints).

    The router's explanation (:func:`_render.explain_json`) plus ``destination``:
    where the winner would send the request now, as :meth:`Gateway.choose` picks
    it without moving any balancer: ``{route, service, endpoint, target, panic,
    respond, error}``, with ``error`` (``{status, error, reason}``) saying why
    there is no endpoint, e.g. 503 when none is healthy; ``None`` without a
    winning route. ``text`` gets the same as a line after the route's.

    Args:
        view: The gateway.
        method: Request method.
        host: ``Host`` header value, ``""`` for none.
        path: Request path, raw or normalised.

    Returns:
        The JSON-ready document.
    """
    body = _render.explain_json(view.explain(method, host, path))
    if body["winner"] is None:
        body["destination"] = None
        return body
    destination: dict[str, Any] = {"route": body["winner"]}
    destination.update(dict.fromkeys(("service", "endpoint", "target")), panic=False)
    destination.update(respond=False, error=None)
    try:
        choice: Any = view.choose(method, host, path)
    except GatewayError as exc:
        destination["error"] = {"status": exc.status_hint, "error": exc.code, "reason": exc.reason}
        line = f"  -> no endpoint: {exc.status_hint} {exc.reason}"
    else:
        destination.update(
            service=choice.service,
            endpoint=choice.endpoint,
            target=choice.target,
            panic=choice.panic,
            respond=choice.service is None,
        )
        if choice.service is None:
            line = "  -> answered by the gateway itself (respond)"
        else:
            line = (
                f"  -> service {choice.service}, endpoint {choice.endpoint}, target {choice.target}"
            )
            if choice.panic:
                line += " (panic: every endpoint is out of service, picked anyway)"
    body["destination"] = destination
    lines = body["text"].split("\n")
    body["text"] = "\n".join([*lines[:2], line, *lines[2:]])
    return body


def _register(
    service: str, request: AdminRequest, view: GatewayView, dry_run: bool
) -> Response | Write:
    if service not in view.config.services:
        return error_response(404, "not_found", f"no service {service!r}")
    body = _writes.parse_body(request)
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        raise ConfigError("body: must be an object {url, weight, ttl}")
    unknown = sorted(set(body) - {"url", "weight", "ttl", "id"})
    errors.extend(FieldError(k, "unknown field (expected url, weight, ttl, id)") for k in unknown)
    url = body.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        errors.append(FieldError("url", "must be an http:// or https:// URL"))
    weight = body.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
        errors.append(FieldError("weight", "must be an integer >= 0 (0 drains)"))
    ttl = body.get("ttl")
    if ttl is not None and (not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0):
        errors.append(FieldError("ttl", "must be a number of seconds > 0, or null"))
    given_id = body.get("id")
    if given_id is not None and (not isinstance(given_id, str) or not given_id or "/" in given_id):
        errors.append(FieldError("id", "must be a non-empty string without '/'"))
    if errors:
        raise ConfigError(errors)
    assert isinstance(url, str) and isinstance(weight, int)
    ident = given_id if isinstance(given_id, str) else instance_id(service, url)
    ttl_value = None if ttl is None else float(ttl)
    change = InstanceRegistered(
        service=service, instance=ident, url=url, weight=weight, ttl=ttl_value
    )
    if dry_run:
        return ok({"dry_run": True, "id": ident, "changed": True, "diff": []})
    return Write(change=change, status=201, extra={"id": ident, "service": service})


def _instance(
    method: str, service: str, ident: str, view: GatewayView, dry_run: bool
) -> Response | Write:
    if service not in view.config.services:
        return error_response(404, "not_found", f"no service {service!r}")
    change: Change
    if method == "PUT":
        change = InstanceHeartbeat(service=service, instance=ident)
        if dry_run:
            return ok({"dry_run": True, "id": ident, "changed": False, "diff": []})
        # The gateway forgot the instance (expired, or a restart): 404 tells the
        # client to register again.
        return Write(change=change, extra={"id": ident, "service": service},
                     refused=(404, "unknown_instance"))  # fmt: skip
    else:
        change = InstanceDeregistered(service=service, instance=ident)
    if dry_run:
        return ok({"dry_run": True, "id": ident, "changed": True, "diff": []})
    return Write(change=change, extra={"id": ident, "service": service})


def refused_response(write: Write, error: ConfigError) -> Response:
    """The answer when the gateway refused a validated write (router conflicts,
    an instance it does not know)."""
    status, code = write.refused
    return error_response(status, code, "the gateway refused it", error.errors)


def write_response(write: Write, applied: Applied) -> Response:
    """The answer to a write once the gateway applied it and the store kept it."""
    data: dict[str, Any] = {
        "changed": applied.changed,
        "result": "changed" if applied.changed else "unchanged",
        "generation": applied.generation,
        "summary": list(applied.summary),
        "warnings": list(applied.warnings),
        "diff": list(write.diff),
    }
    data.update(write.extra)
    return ok(data, write.status)

"""Reading and writing routes, services and the whole config, in the config schema.

Every write is checked the same way: the running config is turned into its
canonical dict (:func:`gwcore.config.to_dict`), the write is applied to that
dict, and the result goes through :func:`gwcore.config.from_dict`. So an admin
write is validated exactly like a config file, and its errors carry the same
field paths (``routes.users.prefix: must start with '/'``).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from gwcore import config as _config
from gwcore.errors import ConfigError, FieldError
from gwcore.events import (
    Change,
    ConfigReplaced,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)
from gwtransports.admin import _render
from gwtransports.admin._types import AdminRequest, Response, Write, error_response, route_name_for

__all__ = ["build", "config_dict", "get_config", "parse_body", "read"]


def config_dict(config: _config.Config) -> dict[str, Any]:
    """The canonical dict of ``config`` with ``routes`` and ``services`` always present."""
    data: dict[str, Any] = dict(_config.to_dict(config))
    data["routes"] = dict(data.get("routes") or {})
    data["services"] = dict(data.get("services") or {})
    return data


def parse_body(request: AdminRequest) -> object:
    """The request body as data: YAML when the Content-Type says so, else JSON.

    Raises:
        ConfigError: The body is empty or does not parse.
    """
    content_type = (request.header("content-type") or "").lower()
    if not request.body.strip():
        raise ConfigError([FieldError("body", "empty; send a JSON (or YAML) document")])
    try:
        text = request.body.decode("utf-8")
        if "yaml" in content_type:
            return yaml.safe_load(text)
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError([FieldError("body", f"does not parse: {first_line}")]) from None


def _wants_yaml(request: AdminRequest) -> bool:
    accept = (request.header("accept") or "").lower()
    return "yaml" in accept


def get_config(request: AdminRequest, config: _config.Config) -> Response:
    """``GET /config``: the whole state in the config schema, YAML or JSON by Accept."""
    data = config_dict(config)
    if _wants_yaml(request):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return Response(status=200, body=text.encode(), content_type="application/yaml")
    return Response(status=200, body=_render.json_bytes(data))


def read(kind: str, names: tuple[str, ...], config: _config.Config) -> Response:
    """``GET`` of ``/routes``, ``/routes/{name}``, ``/services``, ``/services/{name}``."""
    data = config_dict(config)
    if kind in ("routes", "services"):
        return Response(status=200, body=_render.json_bytes({kind: data[kind]}))
    group = "routes" if kind == "route" else "services"
    entry = data[group].get(names[0])
    if entry is None:
        return error_response(404, "not_found", f"no {kind} {names[0]!r}")
    return Response(status=200, body=_render.json_bytes(entry))


def _entry(body: object, kind: str, name: str | None) -> dict[str, Any]:
    """A route or service entry from a body, checked to be an object whose ``name``
    (when given) agrees with the URL."""
    if not isinstance(body, dict):
        raise ConfigError([FieldError("body", f"must be an object: one {kind} entry")])
    entry = dict(body)
    given = entry.pop("name", None)
    if name is not None and given is not None and given != name:
        message = f"is {given!r} but the URL names {name!r}"
        raise ConfigError([FieldError("name", message)])
    return entry


def build(
    kind: str, method: str, names: tuple[str, ...], request: AdminRequest, config: _config.Config
) -> Write | Response:
    """Validate a write and turn it into the one change that performs it.

    Returns:
        The :class:`Write`, or an error :class:`Response` (404 deleting a missing
        entry).

    Raises:
        ConfigError: The body does not parse or the resulting config is invalid.
    """
    old = config_dict(config)
    new = {**old, "routes": dict(old["routes"]), "services": dict(old["services"])}
    extra: dict[str, Any] = {}
    change: Change
    if kind == "config":
        body = parse_body(request)
        if not isinstance(body, dict):
            raise ConfigError([FieldError("body", "must be an object: a whole config")])
        candidate = _config.from_dict(body)
        new = config_dict(candidate)
        change = ConfigReplaced(config=candidate)
        return Write(change=change, diff=tuple(_render.diff(old, new)))
    group = "services" if kind == "service" else "routes"
    if method == "DELETE":
        name = names[0]
        if name not in new[group]:
            return error_response(404, "not_found", f"no {kind} {name!r}")
        del new[group][name]
        _config.from_dict(new)  # a service still used by a route is refused here
        change = ServiceDeleted(name=name) if kind == "service" else RouteDeleted(name=name)
        return Write(change=change, diff=tuple(_render.diff(old, new)))
    body = parse_body(request)
    if kind == "routes":  # POST /routes: the name derives from host and prefix
        entry = _entry(body, "route", None)
        prefix = entry.get("prefix")
        if not isinstance(prefix, str):
            raise ConfigError([FieldError("prefix", "required to derive the route's name")])
        host = entry.get("host")
        name = route_name_for(host if isinstance(host, str) else None, prefix)
        extra["name"] = name
    else:
        name = names[0]
        entry = _entry(body, kind, name)
    new[group][name] = entry
    candidate = _config.from_dict(new)
    new = config_dict(candidate)
    if group == "routes":
        change = RouteUpserted(route=candidate.routes[name])
    else:
        change = ServiceUpserted(name=name, service=candidate.services[name])
    return Write(change=change, diff=tuple(_render.diff(old, new)), extra=extra)

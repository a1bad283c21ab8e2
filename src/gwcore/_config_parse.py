"""Reading a whole config, and the checks that need all of it.

Reading happens in two passes. The first (:func:`_read_config`) checks every
field on its own, recording problems and using defaults as stand-ins so that it
always reaches the end. The second (:func:`cross_check`) checks what one entry
cannot know alone: that a route's services exist, that the selected stage
exists and defines every ``${stageVariables.NAME}`` an endpoint uses, that the
admin API does not share the proxy's port. The second pass also runs on its own
(:func:`validate`) after the admin API or etcd replaced a single entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gwcore._config_entries import read_route, read_service
from gwcore._config_fields import (
    Errors,
    Section,
    check_name,
    choice,
    index,
    join,
    key_text,
    named_entries,
    optional,
    string,
    type_name,
)
from gwcore._config_server_parse import (
    ETCD_KEYS,
    read_admin,
    read_etcd,
    read_limits,
    read_listeners,
    read_timeouts,
)
from gwcore._config_syntax import (
    VARIABLE_RE,
    check_endpoint_url,
    stage_references,
    substitute,
)
from gwcore._frozen import FrozenDict
from gwcore.config import (
    Config,
    Route,
    Service,
    Stage,
)
from gwcore.errors import ConfigError, FieldError

TOP_KEYS = (
    "listen",
    "admin",
    "stage",
    "stages",
    "services",
    "routes",
    "limits",
    "timeouts",
    "etcd",
    "state",
    "access_log",
)
ACCESS_LOG_FORMATS = ("text", "json", "off")

__all__ = [
    "TOP_KEYS",
    "cross_check",
    "from_dict",
    "parse_route",
    "parse_service",
    "validate",
]

T = TypeVar("T")


def from_dict(data: object) -> Config:
    """Build a :class:`Config` from plain data (what YAML or JSON give).

    Args:
        data: The whole config; anything at all is accepted as input.

    Returns:
        The complete, checked config.

    Raises:
        ConfigError: Listing every problem found, each with its field path
            (``routes.usermapping.prefix``); never anything else.
    """
    errors: Errors = []
    config = _read_config(data, errors)
    errors.extend(cross_check(config))
    if errors:
        raise ConfigError(errors)
    return config


def parse_route(name: str, data: object) -> Route:
    """Read one ``routes`` entry (an admin ``PUT /routes/{name}`` body, an etcd value).

    Whether its services exist is checked by :func:`validate` on the config it
    goes into.

    Args:
        name: The route's name.
        data: The entry's body.

    Returns:
        The route.

    Raises:
        ConfigError: With paths ``routes.<name>.<field>``.
    """
    return _read_one("routes", "route", name, data, read_route)


def parse_service(name: str, data: object) -> Service:
    """Read one ``services`` entry (an admin ``PUT /services/{name}`` body, an etcd value).

    Stage variables in its URLs are checked by :func:`validate` on the config it
    goes into.

    Args:
        name: The service's name.
        data: The entry's body.

    Returns:
        The service.

    Raises:
        ConfigError: With paths ``services.<name>.<field>``.
    """
    return _read_one("services", "service", name, data, lambda _n, d, p, e: read_service(d, p, e))


def _read_one(
    section: str,
    kind: str,
    name: str,
    data: object,
    read: Callable[[str, object, str, Errors], T],
) -> T:
    errors: Errors = []
    path = join(section, key_text(name))
    check_name(name, path, errors, kind)
    result = read(key_text(name), data, path, errors)
    if errors:
        raise ConfigError(errors)
    return result


def validate(config: Config) -> None:
    """Re-check what ties a config's parts together (after a single upsert).

    Args:
        config: A config whose entries were each read by :func:`parse_route` /
            :func:`parse_service` or :func:`from_dict`.

    Raises:
        ConfigError: Listing every broken reference: a route's missing service, an
            undefined stage or stage variable, an endpoint URL that is invalid once
            its stage variables are substituted.
    """
    errors = cross_check(config)
    if errors:
        raise ConfigError(errors)


def cross_check(config: Config) -> Errors:
    """The problems that only the whole config reveals (see the module docstring)."""
    errors: Errors = []
    if config.stage is not None and config.stage not in config.stages:
        known = ", ".join(config.stages) or "none defined"
        errors.append(FieldError("stage", f"no stage named {config.stage!r} ({known})"))
    for name, route in config.routes.items():
        path = join("routes", name)
        if route.name != name:
            errors.append(FieldError(path, f"holds a route named {route.name!r}"))
        single = len(route.backends) == 1 and route.backends[0].weight == 1
        for position, backend in enumerate(route.backends):
            at = (
                join(path, "service")
                if single
                else join(index(join(path, "backends"), position), "service")
            )
            if backend.service and backend.service not in config.services:
                errors.append(FieldError(at, f"no service named {backend.service!r}"))
    for name, service in config.services.items():
        for position, endpoint in enumerate(service.endpoints):
            at = join(index(join(join("services", name), "endpoints"), position), "url")
            problem = _endpoint_problem(endpoint.url, config)
            if problem:
                errors.append(FieldError(at, problem))
    for listener in config.listen:
        admin = config.admin.listen
        if listener.port and (listener.host, listener.port) == (admin.host, admin.port):
            errors.append(FieldError("admin.listen", "must not be a proxy listen address"))
    return errors


def _endpoint_problem(url: str, config: Config) -> str:
    try:
        names = stage_references(url)
    except ValueError as exc:
        return str(exc)
    if not names:
        return ""
    if config.stage is None:
        return f"uses stage variable {names[0]!r}, but no stage is selected ('stage:')"
    if config.stage not in config.stages:
        return ""  # reported once, at 'stage'
    variables = config.stages[config.stage].variables
    missing = [name for name in names if name not in variables]
    if missing:
        return f"stage variable {missing[0]!r} is not defined in stage {config.stage!r}"
    resolved = substitute(url, variables)
    try:
        check_endpoint_url(resolved)
    except ValueError as exc:
        return f"is {resolved!r} in stage {config.stage!r}: {exc}"
    return ""


def _read_config(data: object, errors: Errors) -> Config:
    top = Section(data, "", errors, TOP_KEYS)
    default = Config()
    etcd = top.raw("etcd")
    return Config(
        listen=read_listeners(top) if top.has("listen") else default.listen,
        admin=read_admin(top.child("admin", ("listen", "token", "tls"))),
        stage=top.get("stage", None, optional(string())),
        stages=FrozenDict(
            (name, _stage(body, join("stages", name), errors))
            for name, body in named_entries(top.raw("stages"), "stages", errors, "stage")
        ),
        services=FrozenDict(
            (name, read_service(body, join("services", name), errors))
            for name, body in named_entries(top.raw("services"), "services", errors, "service")
        ),
        routes=FrozenDict(
            (name, read_route(name, body, join("routes", name), errors))
            for name, body in named_entries(top.raw("routes"), "routes", errors, "route")
        ),
        limits=read_limits(
            top.child(
                "limits", ("max_request_line", "max_header_bytes", "max_body", "max_connections")
            )
        ),
        timeouts=read_timeouts(
            top.child("timeouts", ("header_read", "idle", "connect", "response", "grace"))
        ),
        etcd=None if etcd is None else read_etcd(top.child("etcd", ETCD_KEYS)),
        state=top.get("state", None, optional(string())),
        access_log=top.get("access_log", "text", choice(ACCESS_LOG_FORMATS)),
    )


def _stage(body: object, path: str, errors: Errors) -> Stage:
    section = Section(body, path, errors, ("variables",))
    variables: dict[str, str] = {}
    raw = section.raw("variables")
    if raw is not None and not isinstance(raw, dict):
        section.error("variables", f"must be a mapping of names to strings, not {type_name(raw)}")
    for name, value in (raw if isinstance(raw, dict) else {}).items():
        at = join(section.at("variables"), key_text(name))
        if not isinstance(name, str) or VARIABLE_RE.fullmatch(name) is None:
            errors.append(FieldError(at, "variable names are letters, digits and '_'"))
        elif not isinstance(value, str):
            errors.append(FieldError(at, f"must be a string, not {type_name(value)} (quote it)"))
        else:
            variables[name] = value
    return Stage(variables=FrozenDict(variables))

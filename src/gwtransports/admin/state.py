"""The state file: admin writes survive a restart in the embedded default.

Theory of operation
-------------------
After every admin write to routes or services the gateway writes *all* its
routes and services to the state file (``<config>.state.json`` beside the config
file, or the path named by ``state:``). Writing the whole set, not a journal of
changes, makes deletions durable for free and keeps the file readable.

The write is atomic: a temporary file in the same directory, ``fsync``, then
``os.replace`` over the old file and an ``fsync`` of the directory, so a crash
leaves either the old state or the new one, never half of each (the same recipe
as SQLite's rollback journal and etcd's snapshot files).

At start-up :func:`overlay` puts the state file's routes and services in place of
the config file's (a route deleted through the admin API stays deleted); the
listeners, limits and the rest still come from the config file.

Registered instances are kept too, under ``instances`` as
``{service: {id: {url, weight, ttl, expires}}}``. ``expires`` is wall-clock time
(Unix seconds, ``null`` without a ttl): the monotonic deadlines inside a gateway
mean nothing to another process, while every worker of one machine shares the
wall clock. So with ``gw serve --workers N`` every worker serves an instance
registered through the one worker that owns the admin listener, and after a
restart an instance keeps serving until its ttl runs out (its next heartbeat
then finds it, instead of a 404 and a new registration).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gwcore import config as _config
from gwcore.errors import ConfigError, FieldError

__all__ = [
    "FORMAT",
    "Instances",
    "load_state",
    "overlay",
    "save_state",
    "state_path",
    "state_payload",
]

#: Registered instances as the state file keeps them:
#: ``{service: {id: {"url": str, "weight": int, "ttl": float | None,
#: "expires": float | None}}}`` (``expires`` in wall-clock Unix seconds).
Instances = Mapping[str, Mapping[str, Mapping[str, Any]]]

#: Version of the state file's layout, written into it so a later gateway can
#: tell an old file from garbage.
FORMAT = 1


def state_path(config: _config.Config, config_file: str | os.PathLike[str] | None) -> Path | None:
    """Where the state file lives.

    Args:
        config: The config (its ``state:`` wins when set; relative paths are taken
            from the config file's directory).
        config_file: Path of the config file, or ``None`` when there is none.

    Returns:
        The path, or ``None`` when neither ``state:`` nor a config file names one
        (admin writes then live in memory only).
    """
    base = Path(config_file).parent if config_file is not None else Path.cwd()
    if config.state:
        path = Path(config.state).expanduser()
        return path if path.is_absolute() else base / path
    if config_file is None:
        return None
    return Path(f"{config_file}.state.json")


def state_payload(config: _config.Config, instances: Instances | None = None) -> dict[str, Any]:
    """The state file's content for ``config``: its routes and services, canonical,
    and the registered ``instances`` when there are any."""
    data = _config.to_dict(config)
    payload = {"format": FORMAT, "routes": data["routes"], "services": data["services"]}
    if instances:
        payload["instances"] = {name: dict(table) for name, table in instances.items() if table}
    return payload


def save_state(
    path: Path, config: _config.Config, instances: Instances | None = None, *, durable: bool = True
) -> None:
    """Write the state file atomically (blocking; run it in a thread).

    Args:
        path: The state file.
        config: Its routes and services are written.
        instances: Registered instances to keep beside them.
        durable: ``fsync`` the file and its directory before returning. A
            heartbeat, which only moves an expiry that the next heartbeat moves
            again, is written without, so frequent heartbeats cost no disk flush.

    Raises:
        OSError: The file could not be written; the previous file is intact.
    """
    payload = state_payload(config, instances)
    data = json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n"
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if not durable:
        return
    # The rename itself lives in the directory; without this fsync a power cut
    # could bring the old file back.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_state(path: Path) -> dict[str, Any] | None:
    """Read the state file.

    Returns:
        ``{"routes": {...}, "services": {...}, "instances": {...}}`` (``instances``
        empty when the file keeps none), or ``None`` when there is no file.

    Raises:
        ConfigError: The file exists but is not a state file (named in the error,
            so the operator can fix or remove it; the gateway does not start on a
            state it cannot read rather than silently forget admin writes).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError([FieldError(str(path), f"state file does not parse: {exc}")]) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError([FieldError(str(path), f"not a gw state file (format {FORMAT})")])
    routes, services = data.get("routes"), data.get("services")
    if not isinstance(routes, dict) or not isinstance(services, dict):
        raise ConfigError([FieldError(str(path), "routes and services must be objects")])
    instances = data.get("instances", {})
    problem = _instances_problem(instances)
    if problem:
        raise ConfigError([FieldError(f"{path}: instances", problem)])
    return {"routes": routes, "services": services, "instances": instances}


def _number_or_null(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _instances_problem(instances: object) -> str | None:
    """What is wrong with a state file's ``instances``, or ``None``."""
    if not isinstance(instances, dict):
        return "must be an object {service: {id: {url, weight, ttl, expires}}}"
    for service, table in instances.items():
        if not isinstance(table, dict):
            return f"{service}: must be an object {{id: {{url, weight, ttl, expires}}}}"
        for ident, entry in table.items():
            where = f"{service}.{ident}"
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                return f"{where}: must be an object with a url"
            weight = entry.get("weight", 1)
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                return f"{where}.weight: must be an integer >= 0"
            ttl = entry.get("ttl")
            if not _number_or_null(ttl) or (ttl is not None and ttl <= 0):
                return f"{where}.ttl: must be a number > 0 or null"
            if not _number_or_null(entry.get("expires")):
                return f"{where}.expires: must be a number or null"
    return None


def overlay(config: _config.Config, state: dict[str, Any] | None) -> _config.Config:
    """``config`` with its routes and services replaced by the state file's.

    Raises:
        ConfigError: The combination is invalid (e.g. the config file's stage no
            longer defines a variable a stored endpoint uses).
    """
    if state is None:
        return config
    data = dict(_config.to_dict(config))
    data["routes"] = state["routes"]
    data["services"] = state["services"]
    return _config.from_dict(data)

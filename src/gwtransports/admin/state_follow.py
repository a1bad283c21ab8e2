"""Following the state file: admin writes reach every worker of ``gw serve --workers N``.

Theory of operation
-------------------
In file mode (no ``--etcd``) only one worker process owns the admin listener:
the first to bind it. Its writes land in its own gateway and in the state file
(:mod:`gwtransports.admin.state`). Every other worker runs
:func:`follow_state`, which looks at the state file every
:data:`POLL_INTERVAL` seconds and applies what changed:

- the file is looked at with one ``stat``: a write replaces the file by a
  rename, so the inode, the modification time or the size differ after each
  write; only then is it read (in a thread, as a large route table takes a
  while to parse);
- routes and services are applied only when their content changed (a digest of
  their canonical JSON), as one :class:`~gwcore.events.ConfigReplaced` over the
  worker's current config: the path a SIGHUP reload takes, all or nothing. A
  state file that cannot be read or is refused is logged, once per version of
  the file, and the worker keeps serving what it had;
- registered instances are brought in line one by one: a new or moved one is
  registered with the ttl it has left (the file keeps wall-clock expiries), one
  the file no longer lists is deregistered.

So a write through the admin API reaches every worker within about
:data:`POLL_INTERVAL` seconds, and costs the other workers one ``stat`` per
interval while nothing changes. The worker that owns the admin listener does
not follow the file (it wrote it, and re-reading its own older write while a
newer one is being persisted would briefly undo the newer one); it only reads
the file's instances once at start-up, as every worker does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import trio

from gwcore.config import Config
from gwcore.errors import ConfigError
from gwcore.events import (
    Applied,
    Change,
    ConfigReplaced,
    InstanceDeregistered,
    InstanceRegistered,
)
from gwtransports.admin.state import load_state, overlay

__all__ = ["POLL_INTERVAL", "StateFollower", "follow_state"]

log = logging.getLogger("gw.admin")

#: Seconds between two looks at the state file: admin writes reach every worker
#: within about this long, for one ``stat`` call per interval.
POLL_INTERVAL = 0.25

# (inode, modification time in ns, size): what one stat says about a version.
_Fingerprint = tuple[int, int, int]
# An instance as this worker last applied it: (url, weight, expires).
_Applied = tuple[str, int, float | None]


class _Gateway(Protocol):
    @property
    def config(self) -> Config: ...


class _Server(Protocol):
    @property
    def gateway(self) -> _Gateway: ...

    def apply(self, change: Change) -> Applied: ...


def _routing_digest(state: dict[str, Any]) -> bytes:
    text = json.dumps([state["routes"], state["services"]], sort_keys=True)
    return hashlib.sha256(text.encode()).digest()


class StateFollower:
    """Applies the state file's changes to one worker's server.

    Args:
        server: The worker's server (its ``gateway.config`` and ``apply``).
        path: The state file.
        clock: Wall clock the file's instance expiries are in (``time.time``).
    """

    def __init__(self, server: _Server, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.path = path
        self._clock = clock
        self._seen: _Fingerprint | None = None
        self._digest: bytes | None = None
        self._instances: dict[tuple[str, str], _Applied] = {}

    def changed(self) -> bool:
        """Whether the file differs from the version last looked at (one ``stat``)."""
        try:
            st = os.stat(self.path)
        except OSError:
            # No state file yet (no admin write so far), or it went away:
            # nothing to apply, the worker keeps what it serves.
            return False
        fingerprint = (st.st_ino, st.st_mtime_ns, st.st_size)
        if fingerprint == self._seen:
            return False
        self._seen = fingerprint
        return True

    def read(self) -> tuple[dict[str, Any], Config | None] | None:
        """Read the file and build the config it asks for (blocking: run it in a
        thread). ``None`` when it cannot be used (logged).

        Returns:
            The state and the config to replace the current one with, or ``None``
            in its place when the routes and services did not change.
        """
        try:
            state = load_state(self.path)
            if state is None:
                return None
            digest = _routing_digest(state)
            if digest == self._digest:
                return state, None
            return state, overlay(self.server.gateway.config, state)
        except (ConfigError, OSError) as exc:
            log.error("state file %s ignored, the worker keeps its config: %s", self.path, exc)
            return None

    def apply(self, state: dict[str, Any], config: Config | None) -> None:
        """Apply what :meth:`read` gave (in the event loop: ``apply`` is not thread-safe)."""
        if config is not None:
            try:
                applied = self.server.apply(ConfigReplaced(config=config))
            except ConfigError as exc:
                log.error("state file %s refused, the worker keeps its config: %s", self.path, exc)
            else:
                self._digest = _routing_digest(state)
                if applied.changed:
                    log.info("state file applied (generation %d)", applied.generation)
        self._apply_instances(state["instances"])

    def poll(self) -> None:
        """Look at the file and apply it when it changed (blocking read)."""
        if self.changed():
            found = self.read()
            if found is not None:
                self.apply(*found)

    def _apply_instances(self, stored: dict[str, dict[str, dict[str, Any]]]) -> None:
        now = self._clock()
        wanted: dict[tuple[str, str], _Applied] = {}
        for service, table in stored.items():
            for ident, entry in table.items():
                expires = entry.get("expires")
                if expires is None or expires > now:
                    wanted[(service, ident)] = (entry["url"], entry.get("weight", 1), expires)
        for service, ident in self._instances:
            if (service, ident) not in wanted:
                self.server.apply(InstanceDeregistered(service=service, instance=ident))
        applied: dict[tuple[str, str], _Applied] = {}
        for (service, ident), (url, weight, expires) in wanted.items():
            if self._instances.get((service, ident)) == (url, weight, expires):
                applied[(service, ident)] = (url, weight, expires)
                continue
            ttl = None if expires is None else expires - now
            try:
                self.server.apply(
                    InstanceRegistered(
                        service=service, instance=ident, url=url, weight=weight, ttl=ttl
                    )
                )
            except (ConfigError, ValueError) as exc:
                log.error("state file: instance %s/%s ignored: %s", service, ident, exc)
                continue
            applied[(service, ident)] = (url, weight, expires)
        self._instances = applied


async def follow_state(follower: StateFollower, interval: float = POLL_INTERVAL) -> None:
    """Apply the state file's changes through ``follower`` until cancelled."""
    while True:
        await trio.sleep(interval)
        if follower.changed():
            found = await trio.to_thread.run_sync(follower.read)
            if found is not None:
                follower.apply(*found)

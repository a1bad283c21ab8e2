"""Following etcd, synchronously: the part of the etcd source that never awaits.

Theory of operation
-------------------
``etcd3`` is blocking gRPC, so everything that talks to etcd runs in one worker
thread (:meth:`EtcdFollower.follow`); an event loop adapter
(:mod:`gwtransports.trio.etcd_watch`) runs it in a thread and receives
:mod:`gwcore.events` changes through a callable. What a key means is decided by
:func:`gwcore.store.decode`; this module only moves data.

One session::

    fresh EtcdClient ─▶ read(prefix, watched keys) at one revision R
        ─▶ diff against what was known ─▶ changes ─▶ deliver ─▶ snapshot on disk
        ─▶ watch prefix and each key from R+1 (nothing between list and watch is lost)
        ─▶ loop: watch events ─▶ changes ─▶ deliver ─▶ snapshot
                 every ``resync`` s: read again, deliver only the differences
                 compaction canceled the watch / watched keys changed: new session
                 etcd fails: EtcdUnreachable (once), back-off, new session

A session always starts with a new client: ``etcd3`` refuses, for minutes, a node
that failed once ("Trying to use a failed node"). A re-list is diffed against the
last known state, so keys deleted while etcd was unreachable are deleted here too
and unchanged keys cause no change at all.

The last good state (each key's last decodable value) is written to a snapshot
file after every batch (temp file, fsync, rename) and delivered first at start-up;
the first list then reconciles it with etcd. So a gateway restarted during an etcd
outage serves what it served before, and a key holding garbage keeps its last
good value across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import etcd3.events
import etcd3.exceptions

from gwcore.errors import ConfigError
from gwcore.events import Change, EtcdReachable, EtcdUnreachable
from gwcore.store import Backoff, decode, diff, snapshot_from_dict, snapshot_to_dict
from gwtransports.etcd_client import EtcdClient, EtcdFailure, EtcdSettings, describe

__all__ = ["EtcdFollower", "Stopped", "StoreStatus"]

log = logging.getLogger("gw.etcd")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatus:
    """What ``/health`` and metrics say about the etcd store.

    Attributes:
        reachable: etcd answered the last call.
        stale_since: Wall-clock time (``time.time()``) etcd became unreachable;
            ``None`` while reachable (or before the first attempt).
        revision: etcd revision of the state last delivered (0: none yet).
        reason: Cause of the last failure, ``""`` when none.
    """

    reachable: bool = False
    stale_since: float | None = None
    revision: int = 0
    reason: str = ""


#: Queue item that only wakes the worker (stop, watched keys changed).
_WAKE = object()


class Stopped(Exception):
    """Raised by a ``deliver`` callable to make :meth:`EtcdFollower.follow` return."""


class _Relist(Exception):
    """Start a new session at once (not a failure): compaction, keys changed."""


class EtcdFollower:
    """Follows etcd in the calling thread and hands every change to a callable.

    Args:
        settings: How to reach etcd.
        prefix: The gateway's key prefix (distributed mode), or ``None`` to watch
            only the plain keys.
        watched_keys: Plain keys used by ``etcd(key, default)`` endpoints.
        resync: Seconds between full re-reads (a safety net under the watch).
        snapshot_path: Where the last known state is cached, or ``None``.
        backoff: Reconnection schedule.
        rng: Jitter source for the back-off.
    """

    def __init__(
        self,
        settings: EtcdSettings,
        *,
        prefix: str | None = "/gw/",
        watched_keys: frozenset[str] = frozenset(),
        resync: float = 30.0,
        snapshot_path: Path | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if resync <= 0:
            raise ValueError("resync must be > 0")
        self.settings = settings
        self.prefix = prefix
        self.resync = resync
        self.snapshot_path = snapshot_path
        self.backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._layout_prefix = prefix or "/gw/"
        self._lock = threading.Lock()
        self._keys = frozenset(watched_keys)
        self._keys_changed = False
        self._stop = threading.Event()
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue()
        self._session_id = 0
        self._client: EtcdClient | None = None
        # Raw values as etcd has them (what the next list is diffed against) and
        # the last value of each key that could be decoded (what the snapshot
        # keeps, so a restart brings back the last good value, not the garbage).
        self._kvs: dict[str, bytes] = {}
        self._good: dict[str, bytes] = {}
        self._revision = 0
        self._status = StoreStatus()
        self._send: Callable[[Change], None] = _no_send
        self._mark_started: Callable[[], None] = _nothing
        self._listed = False
        self._reported: set[str] = set()
        self._reauths = 0
        #: Called in the worker thread with the revision between a list and the
        #: watches that follow it (lets tests write or compact in that window).
        self.listed_hook: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ public

    @property
    def status(self) -> StoreStatus:
        """The store's health (safe to read from any thread)."""
        return self._status

    @property
    def watched_keys(self) -> frozenset[str]:
        """The plain keys being watched."""
        return self._keys

    @property
    def reauthentications(self) -> int:
        """Expired etcd tokens renewed so far (the watch went on)."""
        client = self._client
        return self._reauths + (client.reauthentications if client is not None else 0)

    def stop(self) -> None:
        """Ask :meth:`follow` to return (within one wake-up or one etcd call timeout)."""
        self._stop.set()
        self._queue.put((-1, _WAKE))

    def set_watched_keys(self, keys: frozenset[str]) -> None:
        """Watch this set of plain keys from now on (re-lists when it changed)."""
        keys = frozenset(keys)
        with self._lock:
            if keys == self._keys:
                return
            self._keys = keys
            self._keys_changed = True
        self._queue.put((-1, _WAKE))

    # ------------------------------------------------------------------ worker

    def follow(self, deliver: Callable[[Change], None], started: Callable[[], None]) -> None:
        """Follow etcd in this thread until :meth:`stop`.

        Args:
            deliver: Called with every change, in order.
            started: Called once, when a first state was delivered (etcd's, the
                snapshot's, or none when etcd is unreachable and there is none).
        """
        self._send = deliver
        self._mark_started = _once(started)
        self._load_snapshot()  # reconciled with etcd by the first list (a diff)
        attempt = 0
        while not self._stop.is_set():
            client: EtcdClient | None = None
            try:
                client = EtcdClient(self.settings)
                self._client = client
                self._session(client)
            except _Relist:
                continue
            except EtcdFailure as exc:
                if self._listed:
                    attempt = 0  # it worked until now: the schedule starts over
                self._listed = False
                self._unreachable(exc.reason)
                delay = self.backoff.delay(attempt, self._rng)
                attempt += 1
                # The first failure of an outage is a warning; the retries are news
                # only while debugging (the status says since when it lasts).
                level = logging.WARNING if attempt == 1 else logging.INFO
                log.log(level, "etcd unreachable (%s); retrying in %.2fs", exc.reason, delay)
                self._stop.wait(delay)
            except Stopped:
                return
            else:
                return
            finally:
                if client is not None:
                    client.close()
                    self._reauths += client.reauthentications
                    self._client = None

    def _session(self, client: EtcdClient) -> None:
        """One connection: list, watch, follow; returns only when told to stop."""
        with self._lock:
            keys = self._keys
            self._keys_changed = False
        self._session_id += 1
        session = self._session_id
        kvs, revision = client.read(self.prefix, keys)
        self._listed = True
        self._reachable()
        self._deliver_list(kvs, revision, keys)
        self._mark_started()
        if self.listed_hook is not None:
            self.listed_hook(revision)

        def callback(response: object) -> None:
            self._queue.put((session, response))

        try:
            if self.prefix is not None:
                client.watch(self.prefix, callback, prefix=True, start_revision=revision + 1)
            for key in sorted(keys):
                client.watch(key, callback, prefix=False, start_revision=revision + 1)
        except EtcdFailure as exc:
            if isinstance(exc.__cause__, etcd3.exceptions.RevisionCompactedError):
                log.info("etcd compacted past revision %d before the watch; re-listing", revision)
                raise _Relist from exc
            raise
        deadline = time.monotonic() + self.resync
        while not self._stop.is_set():
            try:
                owner, item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                kvs, revision = client.read(self.prefix, keys)
                self._deliver_list(kvs, revision, keys)
                deadline = time.monotonic() + self.resync
                continue
            if self._keys_changed:
                raise _Relist
            if owner != session or item is _WAKE:
                continue  # a leftover of an earlier session, or a wake-up
            if isinstance(item, etcd3.exceptions.RevisionCompactedError):
                log.info("etcd watch canceled by compaction; re-listing")
                raise _Relist
            if isinstance(item, BaseException):
                raise EtcdFailure(f"watch broke: {describe(item)}") from item
            self._deliver_events(item, keys)

    # ------------------------------------------------------------------ delivery

    def _deliver(self, key: str, value: bytes | None, keys: frozenset[str]) -> None:
        try:
            change = decode(key, value, prefix=self._layout_prefix, watched=keys)
        except ConfigError as exc:
            # gwcore refused the value; the previous one stays in force.
            log.error("etcd key %s ignored: %s", key, exc)
            return
        if value is None:
            self._good.pop(key, None)
        else:
            self._good[key] = value
        self._send(change)

    def _deliver_list(self, kvs: dict[str, bytes], revision: int, keys: frozenset[str]) -> None:
        old = {k: v for k, v in self._kvs.items() if self._relevant(k, keys)}
        for key, value in diff(old, kvs, prefix=self._layout_prefix):
            self._deliver(key, value, keys)
        # A watched key that etcd never had is reported missing once, so the
        # gateway knows its default is in force for a reason.
        for key in sorted(keys - kvs.keys() - old.keys() - self._reported):
            self._deliver(key, None, keys)
        self._reported |= keys
        self._kvs = dict(kvs)
        self._revision = revision
        self._status = StoreStatus(reachable=True, revision=revision)
        self._write_snapshot()

    def _deliver_events(self, response: Any, keys: frozenset[str]) -> None:
        for event in response.events:
            key = bytes(event.key).decode("utf-8", "surrogateescape")
            if int(event.mod_revision) <= self._revision:
                continue  # already seen through a (re-)list at a later revision
            value = None if isinstance(event, etcd3.events.DeleteEvent) else bytes(event.value)
            if value is None:
                self._kvs.pop(key, None)
            else:
                self._kvs[key] = value
            self._deliver(key, value, keys)
        self._revision = max(self._revision, int(response.header.revision))
        self._status = StoreStatus(reachable=True, revision=self._revision)
        self._write_snapshot()

    def _relevant(self, key: str, keys: frozenset[str]) -> bool:
        return key in keys or (self.prefix is not None and key.startswith(self.prefix))

    def _reachable(self) -> None:
        if not self._status.reachable and self._status.stale_since is not None:
            log.warning("etcd reachable again")
            self._send(EtcdReachable())

    def _unreachable(self, reason: str) -> None:
        status = self._status
        if status.stale_since is not None:
            self._status = StoreStatus(
                reachable=False,
                stale_since=status.stale_since,
                revision=status.revision,
                reason=reason,
            )
            return
        self._status = StoreStatus(
            reachable=False, stale_since=time.time(), revision=self._revision, reason=reason
        )
        self._send(EtcdUnreachable(reason=reason))
        self._mark_started()

    # ------------------------------------------------------------------ snapshot

    def _write_snapshot(self) -> None:
        path = self.snapshot_path
        if path is None:
            return
        data = json.dumps(snapshot_to_dict(self._good, self._revision), indent=1)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
            # The rename itself is durable only once the directory is synced.
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            log.error("cannot write etcd snapshot %s: %s", path, exc)

    def _load_snapshot(self) -> None:
        path = self.snapshot_path
        if path is None or not path.exists():
            return
        try:
            kvs, revision = snapshot_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ConfigError) as exc:
            log.error("cannot read etcd snapshot %s: %s", path, exc)
            return
        log.info("starting from the etcd snapshot %s (revision %d)", path, revision)
        # Plain keys in the snapshot were watched when it was written (services
        # from the snapshot may name them); they come after those services.
        with self._lock:
            keys = self._keys | {k for k in kvs if not self._relevant(k, frozenset())}
        for key, value in diff({}, kvs, prefix=self._layout_prefix):
            self._deliver(key, value, keys)
        self._kvs = dict(kvs)
        self._revision = revision


def _no_send(change: Change) -> None:
    raise RuntimeError("EtcdFollower.follow() is not running")


def _nothing() -> None:
    pass


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    done = threading.Event()

    def call() -> None:
        if not done.is_set():
            done.set()
            fn()

    return call

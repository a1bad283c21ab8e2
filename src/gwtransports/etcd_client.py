"""A thin, blocking wrapper over the ``etcd3`` client (``cslab-etcd3``).

It adds what the gateway needs around the library and nothing more:

* Every failure comes out as one exception, :class:`EtcdFailure`, whatever layer
  (gRPC status, ``etcd3`` exception, ``ValueError("Trying to use a failed node")``)
  raised it.
* A client is cheap and disposable. ``etcd3`` marks a node "failed" after one
  unavailable call and refuses it for ``time_retry`` (300 s) afterwards, so a
  client that saw etcd go away would not talk to it again for minutes after it
  came back. Callers therefore build a fresh :class:`EtcdClient` on every
  reconnect and :meth:`EtcdClient.close` the old one.
* Auth: user/password (the password may come from ``GW_ETCD_PASSWORD``). etcd's
  tokens expire (``--auth-token-ttl``, 5 minutes idle by default); a call that
  fails with "invalid auth token" re-authenticates in place and is retried once,
  so open watch streams are left alone.
* TLS with a CA, and a client certificate and key; several endpoints with
  fail-over between them.

Every method blocks (gRPC); the trio side calls them from a worker thread.
:class:`EtcdSettings`, :class:`EtcdFailure` and :data:`PASSWORD_ENV` live in
:mod:`gwtransports._etcd_settings` (no gRPC needed to build settings) and are
re-exported here, their import path.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import etcd3
import etcd3.exceptions
import grpc
from etcd3.client import EtcdTokenCallCredentials

from gwtransports._etcd_settings import PASSWORD_ENV, EtcdFailure, EtcdSettings

__all__ = ["PASSWORD_ENV", "EtcdClient", "EtcdFailure", "EtcdSettings", "describe"]

# gRPC keepalive pings notice a silently dead connection (a partition rather than a
# refused port) on a watch stream that would otherwise wait forever. etcd's default
# enforcement policy accepts pings no more often than every 5 s.
_GRPC_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def _is_auth_error(exc: BaseException) -> bool:
    if isinstance(exc, grpc.RpcError):
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else ""
        return code == grpc.StatusCode.UNAUTHENTICATED or "auth token" in str(details)
    return False


def describe(exc: BaseException) -> str:
    """A one-line cause for an etcd3/gRPC exception."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Turn whatever the etcd3/gRPC stack raises into :class:`EtcdFailure`."""
    try:
        yield
    except EtcdFailure:
        raise
    except (grpc.RpcError, etcd3.exceptions.Etcd3Exception, ValueError, OSError) as exc:
        # ValueError: etcd3's "Trying to use a failed node"; OSError: unreadable
        # TLS files.
        raise EtcdFailure(describe(exc), auth=_is_auth_error(exc)) from exc


def _endpoint(url: str, settings: EtcdSettings) -> Any:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EtcdFailure(f"bad etcd endpoint {url!r}: expected http(s)://host:port")
    secure = parts.scheme == "https"
    creds = None
    if secure:
        if settings.ca is None:
            raise EtcdFailure(f"etcd endpoint {url} is https but no CA file is configured")
        with _mapped():
            creds = etcd3.MultiEndpointEtcd3Client.get_secure_creds(
                settings.ca, settings.key, settings.cert
            )
    return etcd3.Endpoint(
        parts.hostname,
        parts.port or 2379,
        secure=secure,
        creds=creds,
        opts=_GRPC_OPTIONS,
    )


class EtcdClient:
    """One connection to an etcd cluster; build a new one to reconnect.

    Args:
        settings: Where and how to connect.

    Raises:
        EtcdFailure: When the endpoints are malformed or authentication fails.
    """

    def __init__(self, settings: EtcdSettings) -> None:
        if not settings.endpoints:
            raise EtcdFailure("no etcd endpoints configured")
        if (settings.cert is None) != (settings.key is None):
            raise EtcdFailure("etcd client certificate and key must be given together")
        self.settings = settings
        #: How many times an expired token was renewed (for stats and tests).
        self.reauthentications = 0
        self._lock = threading.Lock()
        endpoints = [_endpoint(url, settings) for url in settings.endpoints]
        with _mapped():
            self._client: Any = etcd3.MultiEndpointEtcd3Client(
                endpoints=endpoints,
                timeout=settings.timeout,
                user=settings.user,
                password=settings.password,
                failover=True,
            )
        self._secure = any(url.startswith("https") for url in settings.endpoints)
        if not self._secure:
            # gRPC refuses to send call credentials over a plaintext channel
            # ("insufficient security level"); the token metadata alone suffices.
            self._client.call_credentials = None

    # -------------------------------------------------------------- auth

    def _authenticate(self) -> None:
        """Get a fresh token and use it for later calls and later watch streams."""
        request = etcd3.etcdrpc.AuthenticateRequest(
            name=self.settings.user, password=self.settings.password
        )
        response = self._client.authstub.Authenticate(request, self.settings.timeout)
        client = self._client
        client.metadata = (("token", response.token),)
        client.call_credentials = (
            grpc.metadata_call_credentials(EtcdTokenCallCredentials(response.token))
            if self._secure
            else None
        )
        watcher = client._stubs.get("watcher")
        if watcher is not None:
            # Only read when the watcher (re)opens its stream; the open one keeps going.
            watcher._metadata = client.metadata
            watcher._credentials = client.call_credentials

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one call; on an expired token re-authenticate and retry once."""
        with _mapped():
            try:
                return fn()
            except grpc.RpcError as exc:
                if self.settings.user is None or not _is_auth_error(exc):
                    raise
            with self._lock:
                self._authenticate()
                self.reauthentications += 1
            return fn()

    # -------------------------------------------------------------- reads

    def read(self, prefix: str | None, keys: frozenset[str]) -> tuple[dict[str, bytes], int]:
        """Every key under ``prefix`` plus ``keys``, as of one revision.

        The first read fixes the revision and the others are made at it, so the
        result is one consistent picture, as if taken in a single instant; a watch
        from ``revision + 1`` then misses nothing.

        Args:
            prefix: Key prefix to list, or ``None``.
            keys: Single keys to read (absent ones are left out of the result).

        Returns:
            ``(kvs, revision)``.

        Raises:
            EtcdFailure: etcd did not answer, or the revision was compacted
                between two reads (read again).
        """
        out: dict[str, bytes] = {}
        revision: int | None = None

        def absorb(response: Any) -> None:
            nonlocal revision
            if revision is None:
                revision = int(response.header.revision)
            for kv in response.kvs:
                out[_key(kv.key)] = bytes(kv.value)

        if prefix is not None:
            absorb(self._call(lambda: self._client.get_prefix_response(prefix)))
        for key in sorted(keys):
            absorb(self._call(functools.partial(self._client.get_response, key, revision=revision)))
        if revision is None:
            status = self._call(
                lambda: self._client.maintenancestub.Status(
                    etcd3.etcdrpc.StatusRequest(),
                    self.settings.timeout,
                    credentials=self._client.call_credentials,
                    metadata=self._client.metadata,
                )
            )
            revision = int(status.header.revision)
        return out, revision

    # -------------------------------------------------------------- watches

    def watch(
        self,
        key: str,
        callback: Callable[[object], None],
        *,
        prefix: bool,
        start_revision: int,
    ) -> int:
        """Watch a key (or every key under it) from ``start_revision`` on.

        ``callback`` runs in the client's watch thread with an
        ``etcd3.watch.WatchResponse`` or an exception (the stream broke, or
        ``RevisionCompactedError`` when ``start_revision`` is gone).

        Returns:
            The watch id.

        Raises:
            EtcdFailure: The watch could not be created (``RevisionCompactedError``
                is kept as its ``__cause__``).
        """
        self._watcher()
        if prefix:
            return int(
                self._call(
                    lambda: self._client.add_watch_prefix_callback(
                        key, callback, start_revision=start_revision
                    )
                )
            )
        return int(
            self._call(
                lambda: self._client.add_watch_callback(
                    key, callback, start_revision=start_revision
                )
            )
        )

    # -------------------------------------------------------------- writes

    def put(self, key: str, value: bytes, *, lease: int | None = None) -> int:
        """Set ``key``; returns the revision of the write.

        Raises:
            EtcdFailure: etcd did not answer.
        """
        response = self._call(lambda: self._client.put(key, value, lease=lease))
        return int(response.header.revision)

    def delete(self, key: str) -> bool:
        """Delete ``key``; returns whether it existed.

        Raises:
            EtcdFailure: etcd did not answer.
        """
        return bool(self._call(lambda: self._client.delete(key)))

    def grant(self, ttl: int) -> int:
        """Create a lease of ``ttl`` seconds; returns its id.

        Raises:
            EtcdFailure: etcd did not answer.
        """
        return int(self._call(lambda: self._client.lease(ttl)).id)

    def keep_alive(self, lease: int) -> int:
        """Refresh a lease; returns its remaining TTL (0 or less: it is gone).

        Raises:
            EtcdFailure: etcd did not answer.
        """
        responses = self._call(lambda: list(self._client.refresh_lease(lease)))
        return int(responses[0].TTL) if responses else 0

    def revoke(self, lease: int) -> None:
        """Revoke a lease, deleting every key attached to it.

        Raises:
            EtcdFailure: etcd did not answer.
        """
        self._call(lambda: self._client.revoke_lease(lease))

    def compact(self, revision: int) -> None:
        """Compact the history up to ``revision`` (used by tests and operators).

        Raises:
            EtcdFailure: etcd did not answer.
        """
        self._call(lambda: self._client.compact(revision, physical=True))

    def close(self) -> None:
        """Close the channels, which cancels the watch stream; never raises."""
        watcher = self._client._stubs.get("watcher")
        with contextlib.suppress(Exception):
            self._client.close()
        thread = getattr(watcher, "_callback_thread", None)
        if thread is not None and thread is not threading.current_thread():
            # The cancelled stream ends at once; waiting keeps threads from piling up.
            thread.join(timeout=1.0)

    def _watcher(self) -> Any:
        """The client's watcher, made safe to close under.

        The watch thread of ``etcd3`` expects only gRPC errors; when the channel is
        closed just as it opens its stream it dies with ``ValueError("Cannot
        invoke RPC: Channel closed!")``. That is a normal end here, not an error.
        """
        watcher = self._client.watcher
        if not getattr(watcher, "_gw_safe", False):
            run = watcher._run

            def safe_run() -> None:
                with contextlib.suppress(ValueError):
                    run()

            watcher._run = safe_run
            watcher._gw_safe = True
        return watcher


def _key(raw: bytes) -> str:
    # etcd keys are bytes; ours are UTF-8. surrogateescape keeps a foreign key
    # intact so it can be named in a log line and compared again.
    return bytes(raw).decode("utf-8", "surrogateescape")

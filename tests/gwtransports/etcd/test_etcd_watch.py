"""The etcd source against a real etcd: every fault of the etcd issue has a test here."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from gwcore.config import Backend, Endpoint, Route, Service
from gwcore.events import (
    Change,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    InstanceDeregistered,
    InstanceRegistered,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
)
from gwcore.store import Backoff
from gwtransports.etcd_client import EtcdClient, EtcdFailure, EtcdSettings
from gwtransports.etcd_writer import EtcdWriter
from gwtransports.trio.etcd_watch import EtcdWatch, open_channel
from tests.gwtransports.serving import wait_until

from .conftest import EtcdServer, EtcdTls

DEADLINE = 15.0
FAST = Backoff(initial=0.05, cap=0.3)


def make_watch(etcd: EtcdServer, **kwargs: object) -> EtcdWatch:
    options: dict[str, object] = {"backoff": FAST, "rng": random.Random(0), "resync": 30.0}
    options |= kwargs
    return EtcdWatch(etcd.settings(), **options)  # type: ignore[arg-type]


class Seen:
    """Every change received, and the state they add up to."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.keys: dict[str, str] = {}
        self.routes: dict[str, Route] = {}
        self.services: dict[str, Service] = {}
        self.instances: dict[tuple[str, str], str] = {}

    def add(self, change: Change) -> None:
        self.changes.append(change)
        match change:
            case EtcdKeySet():
                self.keys[change.key] = change.value
            case EtcdKeyDeleted():
                self.keys.pop(change.key, None)
            case RouteUpserted():
                self.routes[change.route.name] = change.route
            case RouteDeleted():
                del self.routes[change.name]
            case ServiceUpserted():
                self.services[change.name] = change.service
            case ServiceDeleted():
                del self.services[change.name]
            case InstanceRegistered():
                self.instances[(change.service, change.instance)] = change.url
            case InstanceDeregistered():
                del self.instances[(change.service, change.instance)]
            case _:
                pass

    def count(self, kind: type) -> int:
        return sum(isinstance(c, kind) for c in self.changes)


async def until(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll ``predicate`` on the loop until true; fail after ``timeout``."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def watching(watch: EtcdWatch) -> AsyncIterator[Seen]:
    seen = Seen()
    send, receive = open_channel()

    async def collect() -> None:
        async for change in receive:
            seen.add(change)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        await nursery.start(watch.run, send)
        yield seen
        nursery.cancel_scope.cancel()


def put(etcd: EtcdServer, key: str, value: str) -> None:
    client = etcd.client()
    try:
        client.put(key, value.encode())
    finally:
        client.close()


def delete(etcd: EtcdServer, key: str) -> None:
    client = etcd.client()
    try:
        client.delete(key)
    finally:
        client.close()


async def aput(etcd: EtcdServer, key: str, value: str) -> None:
    await trio.to_thread.run_sync(put, etcd, key, value)


# --------------------------------------------------------------------------- plain keys


def test_watched_key_missing_set_changed_deleted(etcd: EtcdServer) -> None:
    watch = make_watch(etcd, prefix=None, watched_keys=frozenset({"petstore"}))

    async def main() -> None:
        async with watching(watch) as seen:
            # Missing at start: reported as absent once.
            assert seen.changes == [EtcdKeyDeleted(key="petstore")]
            await aput(etcd, "petstore", "http://127.0.0.1:8000/v2/")
            await until(lambda: seen.keys.get("petstore") == "http://127.0.0.1:8000/v2/", "set")
            await aput(etcd, "petstore", "http://127.0.0.1:8001/v2/")
            await until(lambda: seen.keys.get("petstore") == "http://127.0.0.1:8001/v2/", "change")
            await aput(etcd, "unwatched", "http://elsewhere/")
            await trio.to_thread.run_sync(delete, etcd, "petstore")
            await until(lambda: "petstore" not in seen.keys, "delete")
            assert seen.changes[-1] == EtcdKeyDeleted(key="petstore")
            assert all(getattr(c, "key", "") != "unwatched" for c in seen.changes)
            assert watch.status.reachable and watch.status.stale_since is None

    trio.run(main)


def test_key_present_at_start_and_new_watched_keys_are_listed(etcd: EtcdServer) -> None:
    put(etcd, "a", "http://a/")
    put(etcd, "b", "http://b/")
    watch = make_watch(etcd, prefix=None, watched_keys=frozenset({"a"}))

    async def main() -> None:
        async with watching(watch) as seen:
            assert seen.keys == {"a": "http://a/"}
            watch.set_watched_keys(frozenset({"a", "b"}))
            await until(lambda: seen.keys == {"a": "http://a/", "b": "http://b/"}, "b listed")
            await aput(etcd, "b", "http://b2/")
            await until(lambda: seen.keys.get("b") == "http://b2/", "b watched")
            assert seen.count(EtcdKeySet) == 3

    trio.run(main)


def test_no_change_between_list_and_watch_is_lost(etcd: EtcdServer) -> None:
    watch = make_watch(etcd, prefix=None, watched_keys=frozenset({"k"}))
    listed: list[int] = []

    def write_in_the_gap(revision: int) -> None:
        listed.append(revision)
        if len(listed) == 1:
            put(etcd, "k", "http://written-between-list-and-watch/")

    watch.listed_hook = write_in_the_gap

    async def main() -> None:
        async with watching(watch) as seen:
            await until(lambda: "k" in seen.keys, "the write made in the gap")
            assert seen.keys["k"] == "http://written-between-list-and-watch/"
            assert listed == [listed[0]]  # caught by the watch, not by a re-list

    trio.run(main)


# --------------------------------------------------------------------------- distributed mode


def test_layout_keys_become_changes_and_garbage_is_logged_and_ignored(
    etcd: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    writer = EtcdWriter(etcd.settings())
    service = Service(endpoints=(Endpoint(url="http://127.0.0.1:9000/"),))
    route = Route(name="pets", prefix="/pets/", backends=(Backend(service="petstore"),))
    writer.put_service("petstore", service)
    watch = make_watch(etcd)

    async def main() -> None:
        async with watching(watch) as seen:
            assert seen.services == {"petstore": service}
            await trio.to_thread.run_sync(writer.put_route, route)
            await until(lambda: seen.routes == {"pets": route}, "route")
            with caplog.at_level(logging.ERROR, logger="gw.etcd"):
                await aput(etcd, "/gw/routes/pets", '{"prefix": "no-slash"')
                await aput(etcd, "/gw/routes/other", json.dumps({"prefix": "/o/", "service": "x"}))
                await until(lambda: "other" in seen.routes, "the next good key")
            assert "/gw/routes/pets" in caplog.text and "not valid JSON" in caplog.text
            assert seen.routes["pets"] == route  # the previous value stays
            await trio.to_thread.run_sync(writer.delete_route, "pets")
            await trio.to_thread.run_sync(writer.delete_route, "other")
            await trio.to_thread.run_sync(writer.delete_service, "petstore")
            await until(lambda: not seen.routes and not seen.services, "deletions")

    trio.run(main)
    writer.close()


def test_instance_on_a_lease_vanishes_when_the_lease_expires(etcd: EtcdServer) -> None:
    writer = EtcdWriter(etcd.settings())
    watch = make_watch(etcd)

    async def main() -> None:
        async with watching(watch) as seen:
            registration = await trio.to_thread.run_sync(
                lambda: writer.register("hello", "i-1", url="http://127.0.0.1:5000", ttl=2)
            )
            await until(lambda: ("hello", "i-1") in seen.instances, "registered")
            # Kept alive past its ttl by the heartbeat thread ...
            client = await trio.to_thread.run_sync(etcd.client)
            assert registration.lease is not None
            await trio.sleep(3)  # longer than the ttl: only the heartbeat keeps it
            assert ("hello", "i-1") in seen.instances
            # ... and gone once the heartbeat stops without a revoke (a crash).
            registration._stop.set()
            await until(lambda: ("hello", "i-1") not in seen.instances, "lease expiry")
            assert InstanceDeregistered(service="hello", instance="i-1") in seen.changes
            client.close()

    trio.run(main)
    writer.close()


def test_two_replicas_converge(etcd: EtcdServer) -> None:
    first, second = make_watch(etcd), make_watch(etcd)

    async def main() -> None:
        async with watching(first) as a, watching(second) as b:
            for n in range(20):
                body = {"prefix": f"/p{n % 4}/", "service": "s"}
                await aput(etcd, f"/gw/routes/r{n % 5}", json.dumps(body))
            await trio.to_thread.run_sync(delete, etcd, "/gw/routes/r0")
            await until(lambda: len(a.routes) == 4 and a.routes == b.routes, "convergence")
            assert a.routes["r4"].prefix == "/p3/"

    trio.run(main)


# --------------------------------------------------------------------------- faults


def test_etcd_down_at_start_serves_the_snapshot_then_relists(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    snapshot = tmp_path / "etcd-snapshot.json"
    put(etcd, "/gw/routes/kept", json.dumps({"prefix": "/kept/", "service": "s"}))
    put(etcd, "/gw/routes/gone", json.dumps({"prefix": "/gone/", "service": "s"}))

    async def first_life() -> None:
        async with watching(make_watch(etcd, snapshot_path=snapshot)) as seen:
            assert set(seen.routes) == {"kept", "gone"}

    trio.run(first_life)
    assert json.loads(snapshot.read_text())["kvs"].keys() == {"/gw/routes/kept", "/gw/routes/gone"}
    etcd.stop()
    watch = make_watch(etcd, snapshot_path=snapshot)

    async def second_life() -> None:
        async with watching(watch) as seen:
            assert set(seen.routes) == {"kept", "gone"}  # from the snapshot
            assert isinstance(seen.changes[-1], EtcdUnreachable)
            assert not watch.status.reachable and watch.status.stale_since is not None
            await trio.to_thread.run_sync(etcd.start)
            await trio.to_thread.run_sync(delete, etcd, "/gw/routes/gone")
            await until(lambda: set(seen.routes) == {"kept"}, "re-list after etcd returned")
            assert seen.count(EtcdReachable) == 1
            assert watch.status.reachable and watch.status.stale_since is None

    trio.run(second_life)


def test_a_restart_keeps_the_last_good_value_of_a_garbage_key(
    etcd: EtcdServer, tmp_path: Path
) -> None:
    snapshot = tmp_path / "etcd-snapshot.json"
    good = json.dumps({"prefix": "/good/", "service": "s"})

    async def first_life() -> None:
        async with watching(make_watch(etcd, snapshot_path=snapshot)) as seen:
            await aput(etcd, "/gw/routes/r", good)
            await until(lambda: "r" in seen.routes, "good value")
            await aput(etcd, "/gw/routes/r", "garbage")
            await aput(etcd, "/gw/routes/marker", good)
            await until(lambda: "marker" in seen.routes, "the key after the garbage")
            assert seen.routes["r"].prefix == "/good/"

    trio.run(first_life)
    assert json.loads(snapshot.read_text())["kvs"]["/gw/routes/r"] == good

    async def second_life() -> None:
        async with watching(make_watch(etcd, snapshot_path=snapshot)) as seen:
            assert seen.routes["r"].prefix == "/good/"
            assert seen.count(RouteDeleted) == 0

    trio.run(second_life)


def test_etcd_down_while_running_reports_stale_and_recovers(etcd: EtcdServer) -> None:
    # Also the "failed node" trap: the client that saw etcd die is never reused.
    watch = make_watch(etcd, watched_keys=frozenset({"petstore"}))
    put(etcd, "petstore", "http://127.0.0.1:8000/")

    async def main() -> None:
        async with watching(watch) as seen:
            await trio.to_thread.run_sync(etcd.stop)
            await until(lambda: seen.count(EtcdUnreachable) == 1, "unreachable reported")
            assert seen.keys == {"petstore": "http://127.0.0.1:8000/"}  # last state kept
            stale_since = watch.status.stale_since
            assert stale_since is not None and not watch.status.reachable
            assert watch.status.reason
            await trio.to_thread.run_sync(etcd.start)
            await until(lambda: seen.count(EtcdReachable) == 1, "reachable again")
            await aput(etcd, "petstore", "http://127.0.0.1:8001/")
            await until(lambda: seen.keys["petstore"] == "http://127.0.0.1:8001/", "watch resumed")
            assert seen.count(EtcdUnreachable) == 1

    trio.run(main)


def test_watch_canceled_by_compaction_relists_without_losing_a_change(etcd: EtcdServer) -> None:
    watch = make_watch(etcd, watched_keys=frozenset({"k"}))
    sessions: list[int] = []

    def write_and_compact(revision: int) -> None:
        sessions.append(revision)
        if len(sessions) == 1:
            put(etcd, "k", "http://one/")
            put(etcd, "/gw/routes/r", json.dumps({"prefix": "/r/", "service": "s"}))
            put(etcd, "k", "http://two/")
            etcd.compact()  # the watch from revision+1 is now compacted away

    watch.listed_hook = write_and_compact

    async def main() -> None:
        async with watching(watch) as seen:
            await until(lambda: seen.keys.get("k") == "http://two/" and "r" in seen.routes, "all")
            assert len(sessions) == 2  # re-listed once
            await aput(etcd, "k", "http://three/")
            await until(lambda: seen.keys.get("k") == "http://three/", "watch resumed")
            assert seen.count(EtcdUnreachable) == 0

    trio.run(main)


def test_auth_token_expiry_is_renewed_without_losing_the_watch(
    etcd_factory: Callable[..., EtcdServer],
) -> None:
    etcd = etcd_factory(token_ttl=1)
    etcd.enable_auth()
    watch = make_watch(etcd, watched_keys=frozenset({"k"}), resync=2.5)

    async def main() -> None:
        async with watching(watch) as seen:
            # The watch is idle past the token's ttl; the resync read then meets
            # "invalid auth token" and renews it.
            await until(lambda: watch.reauthentications >= 1, "token renewal", timeout=20)
            await aput(etcd, "k", "http://after-renewal/")
            await until(lambda: seen.keys.get("k") == "http://after-renewal/", "watch event")
            assert seen.count(EtcdUnreachable) == 0

    trio.run(main)


def test_wrong_password_is_an_unreachable_store(etcd: EtcdServer) -> None:
    etcd.enable_auth()
    watch = EtcdWatch(
        etcd.settings(password="wrong"), prefix=None, backoff=FAST, rng=random.Random(0)
    )

    async def main() -> None:
        async with watching(watch) as seen:
            assert isinstance(seen.changes[-1], EtcdUnreachable)
            assert "authentication failed" in watch.status.reason

    trio.run(main)


def test_tls_with_client_certificate(
    etcd_factory: Callable[..., EtcdServer], etcd_tls: EtcdTls
) -> None:
    etcd = etcd_factory(tls=etcd_tls)
    assert etcd.url.startswith("https://")
    watch = make_watch(etcd, watched_keys=frozenset({"k"}))

    async def main() -> None:
        async with watching(watch) as seen:
            await aput(etcd, "k", "http://over-tls/")
            await until(lambda: seen.keys.get("k") == "http://over-tls/", "event over TLS")

    trio.run(main)
    # Without the client certificate etcd refuses the connection.
    plain = make_watch(etcd, prefix=None)
    plain.settings = etcd.settings(cert=None, key=None)

    async def refused() -> None:
        async with watching(plain) as seen:
            assert isinstance(seen.changes[-1], EtcdUnreachable)

    trio.run(refused)


def test_client_refuses_https_without_ca(etcd: EtcdServer) -> None:
    with pytest.raises(EtcdFailure, match="no CA"):
        EtcdClient(EtcdSettings(endpoints=("https://127.0.0.1:1",)))


def test_writer_recovers_after_an_etcd_restart(etcd: EtcdServer) -> None:
    # The "failed node" trap: an etcd3 client that saw its node fail refuses it
    # for minutes; the writer retries on a fresh client instead.
    writer = EtcdWriter(etcd.settings())
    writer.put_value("k", "http://one/")
    etcd.stop()
    with pytest.raises(EtcdFailure):
        writer.put_value("k", "http://two/")
    etcd.start()
    writer.put_value("k", "http://three/")
    client = etcd.client()
    assert client.read(None, frozenset({"k"}))[0] == {"k": b"http://three/"}
    client.close()
    writer.close()


def test_registration_comes_back_after_its_lease_was_lost(etcd: EtcdServer) -> None:
    writer = EtcdWriter(etcd.settings())
    registration = writer.register("hello", "i-1", url="http://127.0.0.1:5000", ttl=1)
    client = etcd.client()
    key = "/gw/instances/hello/i-1"
    assert registration.lease is not None
    client.revoke(registration.lease)  # as if etcd had expired it during an outage
    wait_until(lambda: key in client.read("/gw/", frozenset())[0], what="re-registered")
    registration.close()
    assert key not in client.read("/gw/", frozenset())[0]
    client.close()
    writer.close()

"""apply_changes: what the trio side does with each change from the etcd source."""

from __future__ import annotations

import logging

import pytest
import trio

from gwcore.errors import ConfigError
from gwcore.events import Applied, Change, EtcdKeySet, RouteDeleted
from gwtransports.etcd_client import EtcdSettings
from gwtransports.trio.etcd_watch import EtcdWatch, apply_changes, open_channel


class FakeGateway:
    """Refuses deleting route ``kept``; every service brings watched key ``k2``."""

    def __init__(self) -> None:
        self.applied: list[tuple[Change, float]] = []
        self.watched_keys = frozenset({"k1"})

    def apply(self, change: Change, now: float) -> Applied:
        if change == RouteDeleted(name="kept"):
            raise ConfigError("routes.kept: still used")
        self.applied.append((change, now))
        self.watched_keys = frozenset({"k1", "k2"})
        return Applied(generation=len(self.applied), changed=True, warnings=("odd value",))


def test_refused_changes_are_logged_with_their_key_and_the_rest_applies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = FakeGateway()
    watch = EtcdWatch(EtcdSettings(endpoints=("http://127.0.0.1:1",)), prefix="/gw/")

    async def main() -> None:
        send, receive = open_channel()
        async with send:
            await send.send(RouteDeleted(name="kept"))
            await send.send(EtcdKeySet(key="k1", value="http://x/"))
        with caplog.at_level(logging.WARNING, logger="gw.etcd"):
            await apply_changes(gateway, receive, watch, now=lambda: 42.0)

    trio.run(main)
    assert gateway.applied == [(EtcdKeySet(key="k1", value="http://x/"), 42.0)]
    assert "etcd key /gw/routes/kept refused: routes.kept: still used" in caplog.text
    assert "etcd: odd value" in caplog.text
    assert watch.watched_keys == frozenset({"k1", "k2"})

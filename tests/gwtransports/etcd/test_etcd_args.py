"""``gw serve --etcd*`` options: how they combine with the config's ``etcd:`` section."""

from __future__ import annotations

import argparse

import pytest

from gwcore.config import Config, Etcd
from gwtransports.trio.etcd_watch import add_etcd_arguments, settings_from_args


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_etcd_arguments(parser)
    return parser.parse_args(argv)


def test_no_etcd_anywhere_means_none() -> None:
    assert settings_from_args(_args(), Config()) is None


def test_config_section_alone_watches_plain_keys_only() -> None:
    config = Config(etcd=Etcd(endpoints=("http://127.0.0.1:2379",), user="gw", password="pw"))
    found = settings_from_args(_args(), config)
    assert found is not None
    settings, prefix = found
    assert prefix is None
    assert settings.endpoints == ("http://127.0.0.1:2379",)
    assert (settings.user, settings.password) == ("gw", "pw")


def test_etcd_option_is_distributed_mode_and_overrides_the_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GW_ETCD_PASSWORD", "from-env")
    config = Config(etcd=Etcd(endpoints=("http://old:2379",), prefix="/team/", ca="ca.pem"))
    args = _args("--etcd", "https://a:2379, https://b:2379", "--etcd-user", "gw")
    found = settings_from_args(args, config)
    assert found is not None
    settings, prefix = found
    assert prefix == "/team/"
    assert settings.endpoints == ("https://a:2379", "https://b:2379")
    assert (settings.user, settings.password, settings.ca) == ("gw", "from-env", "ca.pem")
    args = _args("--etcd", "http://a:2379", "--etcd-prefix", "/x/", "--etcd-password", "p")
    found = settings_from_args(args, Config())
    assert found is not None
    assert found[1] == "/x/"
    assert found[0].password is None  # no user: no auth

"""How to reach etcd, and the one exception every etcd failure becomes.

Re-exported by :mod:`gwtransports.etcd_client`, which is where to import these
from; they need neither ``etcd3`` nor gRPC, so settings can be built and failures
named without loading the client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gwcore.config import Etcd

__all__ = ["PASSWORD_ENV", "EtcdFailure", "EtcdSettings"]

#: Environment variable the etcd password is read from when the config has none.
PASSWORD_ENV = "GW_ETCD_PASSWORD"


class EtcdFailure(Exception):
    """etcd could not do what was asked (down, refused, timed out, denied).

    Attributes:
        reason: Short cause for logs and health output.
        auth: The failure is an authentication one (bad credentials or a token
            that could not be renewed); reconnecting alone will not help.
    """

    def __init__(self, reason: str, *, auth: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.auth = auth


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdSettings:
    """How to reach etcd.

    Attributes:
        endpoints: ``http(s)://host:port`` URLs; ``https`` ones need ``ca``.
        user: User for etcd auth, or ``None``.
        password: Its password.
        ca: CA file (PEM) verifying etcd's certificate.
        cert: Client certificate file (PEM), with ``key``.
        key: Client key file (PEM).
        timeout: Seconds any single call may take.
    """

    endpoints: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    timeout: float = 3.0

    @classmethod
    def from_config(
        cls, etcd: Etcd, *, environ: Mapping[str, str] | None = None, timeout: float = 3.0
    ) -> EtcdSettings:
        """Build settings from the config's ``etcd:`` section.

        Args:
            etcd: The section.
            environ: Where ``GW_ETCD_PASSWORD`` is looked up (``os.environ``).
            timeout: Seconds any single call may take.

        Returns:
            The settings.
        """
        env = os.environ if environ is None else environ
        password = etcd.password if etcd.password is not None else env.get(PASSWORD_ENV)
        return cls(
            endpoints=etcd.endpoints,
            user=etcd.user,
            password=password if etcd.user is not None else None,
            ca=etcd.ca,
            cert=etcd.cert,
            key=etcd.key,
            timeout=timeout,
        )

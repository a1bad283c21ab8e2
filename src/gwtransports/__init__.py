"""gw's I/O: the trio gateway server, upstream pool, etcd store, admin API and CLI.

Everything here moves bytes and time; every decision is made by :mod:`gwcore`.
"""

from __future__ import annotations

__version__ = "0.1.0"

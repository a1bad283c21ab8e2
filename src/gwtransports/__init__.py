"""gw's I/O: the trio gateway server, upstream pool, etcd store, admin API and CLI.

Everything here moves bytes and time; every decision is made by :mod:`gwcore`.
"""

from __future__ import annotations

# One version for the distribution: gwcore carries it (pyproject reads it too).
from gwcore import __version__

__all__ = ["__version__"]

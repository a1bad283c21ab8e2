"""The admin API: pure handlers, the trio listener, and where writes are kept.

``handlers`` answers requests from a gateway snapshot (no I/O); ``server`` runs the
listener inside ``gw serve``; ``store`` and ``state`` make writes durable.
"""

from __future__ import annotations

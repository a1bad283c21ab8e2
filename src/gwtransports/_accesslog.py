"""The access log: one line per request, as text or as JSON lines.

Lines are collected in memory and written by :meth:`AccessLog.flush`, which the
adapter's timer task calls a few times a second: one ``write`` per batch instead
of one per request keeps logging off the hot path, and a line never waits more
than one timer period.

Fields: time (UTC, ISO 8601 with milliseconds), client, method, target, route,
endpoint, status (0: no response was sent), bytes (response body bytes sent),
duration (ms), retries, request id.
"""

from __future__ import annotations

import json
import time
from typing import TextIO

from gwtransports._exchange import Exchange

__all__ = ["FORMATS", "AccessLog"]

#: Accepted values of ``access_log`` in the config.
FORMATS = ("text", "json", "off")


class AccessLog:
    """Formats and buffers access log lines.

    Args:
        out: Where lines go (``sys.stdout`` by default in ``gw serve``).
        fmt: ``"text"``, ``"json"`` or ``"off"``.
    """

    __slots__ = ("_lines", "_sec", "_sec_text", "fmt", "out")

    def __init__(self, out: TextIO, fmt: str = "text") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"access log format must be one of {FORMATS}, got {fmt!r}")
        self.out = out
        self.fmt = fmt
        self._lines: list[str] = []
        self._sec = -1
        self._sec_text = ""

    def _time(self, wall: float) -> str:
        sec = int(wall)
        if sec != self._sec:
            # Formatting a timestamp costs microseconds; once per second is enough.
            self._sec = sec
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._sec_text}.{int((wall - sec) * 1000):03d}Z"

    def log(self, ex: Exchange, wall_end: float) -> None:
        """Record one finished request.

        Args:
            ex: The request's state.
            wall_end: Wall-clock time when it ended (``time.time()``).
        """
        fmt = self.fmt
        if fmt == "off":
            return
        duration = (wall_end - ex.start) * 1000
        stamp = self._time(ex.start)
        if fmt == "text":
            self._lines.append(
                f'{stamp} {ex.client} "{ex.method} {ex.target}" {ex.status} {ex.bytes_out} '
                f"{duration:.2f}ms route={ex.route} endpoint={ex.endpoint} "
                f"retries={ex.retries} id={ex.request_id}\n"
            )
        else:
            record = {
                "time": stamp,
                "client": ex.client,
                "method": ex.method,
                "target": ex.target,
                "route": ex.route,
                "endpoint": ex.endpoint,
                "status": ex.status,
                "bytes": ex.bytes_out,
                "duration_ms": round(duration, 3),
                "retries": ex.retries,
                "request_id": ex.request_id,
            }
            self._lines.append(json.dumps(record) + "\n")
        if len(self._lines) >= 512:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines (never raises on a closed or broken output)."""
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass

"""One request's proxy state, request ids, and the body kept for retries.

Shared by every adapter; nothing here awaits.
"""

from __future__ import annotations

import os

__all__ = ["Exchange", "ReplayBuffer", "RequestIds"]


class ReplayBuffer:
    """Keeps the start of a request body so that a retry can send it again.

    A retry after the body went out is only possible when the whole body is
    still at hand; bodies larger than ``limit`` stream without a copy and their
    request is then not retried once its bytes are sent.
    """

    __slots__ = ("chunks", "complete", "limit", "size")

    def __init__(self, limit: int = 64 * 1024) -> None:
        self.limit = limit
        self.chunks: list[bytes | bytearray] = []
        self.size = 0
        #: The whole body is in ``chunks`` (set when the body ended in time).
        self.complete = False

    def add(self, data: bytes | bytearray) -> None:
        if self.size >= 0:
            self.size += len(data)
            if self.size > self.limit:
                self.size = -1
                self.chunks = []
            else:
                self.chunks.append(data)

    @property
    def replayable(self) -> bool:
        return self.complete and self.size >= 0


class RequestIds:
    """Makes request ids: a random per-process prefix and a counter (unique,
    cheap, and sortable within a process)."""

    __slots__ = ("_n", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self._prefix}-{self._n:x}"


class Exchange:
    """One request's proxy state: what the access log line is made of.

    Attributes are filled in as the request goes on; ``status`` 0 means no
    response was sent (the connection closed first).
    """

    __slots__ = (
        "bytes_out",
        "client",
        "endpoint",
        "method",
        "request_id",
        "response_started",
        "retries",
        "route",
        "start",
        "status",
        "target",
    )

    def __init__(
        self, start: float, client: str, method: str, target: str, request_id: str
    ) -> None:
        self.start = start
        self.client = client
        self.method = method
        self.target = target
        self.request_id = request_id
        self.route = "-"
        self.endpoint = "-"
        self.status = 0
        self.bytes_out = 0
        self.retries = 0
        self.response_started = False

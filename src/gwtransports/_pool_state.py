"""Upstream connection pool bookkeeping: which idle connection to reuse, which
to close. Synchronous and clock-free: every call takes ``now``.

Theory of operation
-------------------
The pool keeps, per endpoint key (``scheme://host:port``), a stack of idle
keep-alive connections with the time each went idle. ``checkout`` pops the most
recently used one (LIFO: warm connections stay warm, cold ones age out and are
closed by ``expire``; the same choice as httpcore and Go's ``net/http``).

Bounds: at most ``max_idle_per_key`` idle connections per endpoint and
``max_idle`` overall; a connection checked in beyond a bound is handed back for
closing instead of kept. Connections in use are bounded by the client side
(``limits.max_connections``): each client request holds at most one.

The pool never touches a socket. ``checkout``, ``checkin`` and ``expire`` return
the connections the adapter must close, as httpcore's
``_assign_requests_to_connections`` returns work instead of doing it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["PoolState"]

C = TypeVar("C")


class PoolState(Generic[C]):
    """Idle keep-alive connections per endpoint.

    Args:
        idle_timeout: Seconds an idle connection is kept; upstream servers close
            idle connections on their own schedule (uvicorn after 5 s, nginx 75 s),
            so a shorter value avoids most stale reuse.
        max_idle_per_key: Idle connections kept per endpoint.
        max_idle: Idle connections kept overall.
    """

    __slots__ = ("_count", "_idle", "idle_timeout", "max_idle", "max_idle_per_key")

    def __init__(
        self, idle_timeout: float = 4.0, max_idle_per_key: int = 64, max_idle: int = 1024
    ) -> None:
        if idle_timeout <= 0 or max_idle_per_key < 0 or max_idle < 0:
            raise ValueError("pool bounds must be positive")
        self.idle_timeout = idle_timeout
        self.max_idle_per_key = max_idle_per_key
        self.max_idle = max_idle
        self._idle: dict[str, list[tuple[float, C]]] = {}
        self._count = 0

    @property
    def idle_count(self) -> int:
        """Idle connections held, over all endpoints."""
        return self._count

    def checkout(self, key: str, now: float) -> tuple[C | None, float, list[C]]:
        """Take an idle connection to ``key``, if a fresh one is held.

        Returns:
            ``(connection or None, seconds it was idle, expired connections to
            close)``.
        """
        stack = self._idle.get(key)
        if not stack:
            return None, 0.0, []
        since, conn = stack.pop()
        self._count -= 1
        if since > now - self.idle_timeout:
            return conn, now - since, []
        # The newest is stale, so all are: close the whole stack.
        dead = [conn] + [c for _, c in stack]
        self._count -= len(stack)
        stack.clear()
        return None, 0.0, dead

    def checkin(self, key: str, conn: C, now: float) -> list[C]:
        """Hand back a connection that may carry another request.

        Returns:
            Connections to close: ``[conn]`` itself when a bound is reached.
        """
        stack = self._idle.setdefault(key, [])
        if len(stack) >= self.max_idle_per_key or self._count >= self.max_idle:
            return [conn]
        stack.append((now, conn))
        self._count += 1
        return []

    def discard(self, key: str, conn: C) -> bool:
        """Forget an idle connection (it was found closed by the peer).

        Returns:
            Whether it was held.
        """
        stack = self._idle.get(key, [])
        for i, (_, c) in enumerate(stack):
            if c is conn:
                del stack[i]
                self._count -= 1
                return True
        return False

    def expire(self, now: float) -> list[C]:
        """Drop connections idle for longer than ``idle_timeout``.

        Returns:
            The connections to close.
        """
        deadline = now - self.idle_timeout
        dead: list[C] = []
        for key in list(self._idle):
            stack = self._idle[key]
            # Stacks are ordered oldest first: cut the stale head.
            cut = 0
            while cut < len(stack) and stack[cut][0] <= deadline:
                cut += 1
            if cut:
                dead.extend(c for _, c in stack[:cut])
                del stack[:cut]
                self._count -= cut
            if not stack:
                del self._idle[key]
        return dead

    def next_expiry(self) -> float | None:
        """When ``expire`` next has something to do (``None``: nothing idle)."""
        oldest = [stack[0][0] for stack in self._idle.values() if stack]
        return min(oldest) + self.idle_timeout if oldest else None

    def drain(self) -> list[C]:
        """Empty the pool (shutdown).

        Returns:
            Every idle connection, to close.
        """
        dead = [c for stack in self._idle.values() for _, c in stack]
        self._idle.clear()
        self._count = 0
        return dead

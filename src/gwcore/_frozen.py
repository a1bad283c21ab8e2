"""A hashable, immutable mapping for the frozen config dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    """An immutable ``dict`` that keeps insertion order and can be hashed.

    Equality is that of ``dict`` (order does not matter), so two configs built
    from the same entries in another order compare equal.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def set(self, key: K, value: V) -> FrozenDict[K, V]:
        """Return a copy with ``key`` set to ``value`` (added last when new)."""
        data = dict(self._data)
        data[key] = value
        return FrozenDict(data)

    def delete(self, key: K) -> FrozenDict[K, V]:
        """Return a copy without ``key``.

        Raises:
            KeyError: When ``key`` is absent.
        """
        data = dict(self._data)
        del data[key]
        return FrozenDict(data)

"""FrozenDict: an immutable, hashable mapping with dict equality."""

from __future__ import annotations

import pytest

from gwcore._frozen import FrozenDict


def test_mapping_behaviour_and_hash() -> None:
    a = FrozenDict({"x": 1, "y": 2})
    b = FrozenDict([("y", 2), ("x", 1)])
    assert a == b and hash(a) == hash(b)
    assert a == {"x": 1, "y": 2}
    assert a != {"x": 1}
    assert (a == 3) is False
    assert list(a) == ["x", "y"] and len(a) == 2 and "x" in a and a["y"] == 2
    assert repr(a) == "FrozenDict({'x': 1, 'y': 2})"
    assert hash(a) == hash(a)  # cached


def test_set_and_delete_return_copies() -> None:
    a = FrozenDict({"x": 1})
    assert a.set("y", 2) == {"x": 1, "y": 2}
    assert a.set("x", 5) == {"x": 5}
    assert a.delete("x") == {}
    assert a == {"x": 1}
    with pytest.raises(KeyError):
        a.delete("missing")

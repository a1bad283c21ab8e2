"""The part every fuzz target's test module shares: load ``fuzz/<name>_target.py``,
check that it states its invariant on its first line, replay its seed corpus and
feed it arbitrary bytes for a short hypothesis run.

A test module binds the tests to its own names, so pytest collects them there::

    check = load_target("match").check
    test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes = (
        standard_tests("match", check, "# Invariant: arbitrary bytes", max_size=80)
    )
"""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

__all__ = ["FUZZ", "load_target", "standard_tests"]

FUZZ = pathlib.Path(__file__).resolve().parents[1] / "fuzz"

_Test = Callable[..., None]


def load_target(name: str) -> ModuleType:
    """``fuzz/<name>_target.py`` as a module (``fuzz/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_target", FUZZ / f"{name}_target.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def standard_tests(
    name: str, check: Callable[[bytes], None], invariant: str, *, max_size: int
) -> tuple[_Test, _Test, _Test]:
    """The three tests every target gets: its first line starts with
    ``invariant``; every file of ``fuzz/<name>_corpus`` passes ``check``; so do
    arbitrary bytes up to ``max_size`` long."""
    corpus = sorted((FUZZ / f"{name}_corpus").iterdir())

    def test_target_states_its_invariant_first() -> None:
        first = (FUZZ / f"{name}_target.py").read_text().splitlines()[0]
        assert first.startswith(invariant)

    @pytest.mark.parametrize("path", corpus, ids=lambda p: p.name)
    def test_corpus(path: pathlib.Path) -> None:
        check(path.read_bytes())

    @given(st.binary(max_size=max_size))
    def test_arbitrary_bytes(data: bytes) -> None:
        check(data)

    return test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes

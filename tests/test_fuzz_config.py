"""A short hypothesis run of fuzz/config_target.py, plus its seed corpus.

The target's invariant: any bytes parsed as YAML/JSON then from_dict give a
Config that round-trips, or a ConfigError; nothing else.
"""

from __future__ import annotations

import random

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import load_target, standard_tests
from tests.gwcore.strategies import JSON, config_dicts, invalid_config_dicts

check = load_target("config").check
test_target_states_its_invariant_first, test_corpus, test_arbitrary_bytes = standard_tests(
    "config", check, "# Invariant: any bytes parsed as YAML/JSON then from_dict", max_size=200
)


def _mangle(text: str, seed: int) -> bytes:
    """Flip, drop or duplicate a few bytes of a document, deterministically."""
    data = bytearray(text.encode())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 4)):
        if not data:
            break
        position = rng.randrange(len(data))
        match rng.randrange(3):
            case 0:
                data[position] = rng.choice(b" :-[]{}&*!|>'\"#,\n0aZ/%$")
            case 1:
                del data[position]
            case _:
                data[position:position] = data[position : position + rng.randint(1, 8)]
    return bytes(data)


def _dump(document: JSON) -> str:
    return yaml.safe_dump(document, sort_keys=False)


@given(config_dicts(), st.integers(0, 2**32))
def test_mangled_valid_configs(document: dict[str, JSON], seed: int) -> None:
    check(_dump(document).encode())
    check(_mangle(_dump(document), seed))


@given(invalid_config_dicts(), st.integers(0, 2**32))
def test_mangled_invalid_configs(case: tuple[dict[str, JSON], str], seed: int) -> None:
    check(_mangle(_dump(case[0]), seed))


def test_non_utf8_and_non_documents_are_skipped() -> None:
    for data in (b"\xff\xfe", b"[[[[", b"{", b"a: b: c", b"[" * 5000, b"1" * 5000):
        check(data)

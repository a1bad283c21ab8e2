# Invariant: any bytes parsed as YAML/JSON then from_dict: a Config that round-trips, or ConfigError; nothing else.  # noqa: E501
"""Fuzz target for the config-facing surface (gwcore.config.from_dict / to_dict).

Every input is decoded as UTF-8 and parsed twice, as JSON and as YAML (PyYAML's
SafeLoader, what ``gw serve -c`` uses). Whatever document comes out goes to
``from_dict``, which must either return a Config whose canonical form loads back
to an equal Config (and dumps identically), or raise ConfigError with at least
one field error. Inputs that are not UTF-8 or not YAML/JSON are uninteresting,
not failures: the file loader reports those itself.

Run it under atheris (``pip install atheris``)::

    python fuzz/config_target.py fuzz/config_corpus/

Without atheris, ``check`` is exercised by a short hypothesis run in the normal
test suite (tests/test_fuzz_config.py), together with the seed corpus.
"""

from __future__ import annotations

import json
import sys

import yaml

from gwcore.config import from_dict, to_dict
from gwcore.errors import ConfigError

# What a loader may raise on a malformed document: syntax errors, ints longer
# than Python prints (ValueError), nesting deeper than the recursive composers.
_LOAD_ERRORS = (ValueError, yaml.YAMLError, RecursionError)


def _documents(text: str) -> list[object]:
    documents: list[object] = []
    for load in (json.loads, _load_yaml):
        try:
            documents.append(load(text))
        except _LOAD_ERRORS:
            continue
    return documents


def _load_yaml(text: str) -> object:
    return yaml.load(text, Loader=yaml.SafeLoader)


def check(data: bytes) -> None:
    """Assert the invariant for one input.

    Args:
        data: Arbitrary bytes.

    Raises:
        AssertionError: When ``from_dict`` returned a config that does not round-trip.
        Exception: Anything else ``from_dict`` raises is a bug and propagates.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    for document in _documents(text):
        try:
            config = from_dict(document)
        except ConfigError as exc:
            assert exc.errors, "a ConfigError without field errors"
            continue
        dumped = to_dict(config)
        assert from_dict(dumped) == config, "from_dict(to_dict(c)) != c"
        assert to_dict(from_dict(dumped)) == dumped, "the canonical form is not stable"


def main() -> None:
    """Run under atheris with the corpus directories given on the command line."""
    # Imported here: atheris is optional and only this entry point needs it.
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: PLC0415

    atheris.instrument_all()  # coverage feedback from gwcore and PyYAML, already imported
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

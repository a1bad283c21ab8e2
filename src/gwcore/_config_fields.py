"""Reading one mapping of a config while collecting every problem.

Every reader here either returns a value or records a :class:`FieldError` and
returns a stand-in (the field's default), so parsing always runs to the end and
reports all problems at once; :func:`gwcore.config.from_dict` then raises if any
were recorded and never hands out the stand-ins.

Converters are plain functions ``object -> T`` that raise ``ValueError`` with a
message; :meth:`Section.get` turns that into a :class:`FieldError` at the
field's path. ``bool`` is never accepted where a number belongs: YAML's ``yes``
is not a retry count.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

from gwcore._units import parse_duration, parse_size
from gwcore.errors import FieldError

T = TypeVar("T")

#: Names of routes, services and stages: they appear in admin URLs and etcd keys.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

Errors = list[FieldError]


def join(path: str, key: str) -> str:
    """``routes`` + ``users`` -> ``routes.users``; the root path is ``""``."""
    return f"{path}.{key}" if path else key


def index(path: str, position: int) -> str:
    """``listen`` + 0 -> ``listen[0]``."""
    return f"{path}[{position}]"


def type_name(value: object) -> str:
    """The YAML/JSON-facing name of a value's type, for messages."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def shown(value: object) -> str:
    """A value as a message shows it: scalars as written, containers by type.

    Never ``repr`` of a container (a YAML alias bomb would expand) nor ``str`` of
    a huge int (Python refuses to print ints of more than 4300 digits).
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return "a huge integer"
    if value is None or isinstance(value, str | int | float):
        return repr(value)
    return type_name(value)


def key_text(key: object) -> str:
    """A mapping key as a field path shows it."""
    return key if isinstance(key, str) else shown(key)


class Section:
    """One mapping of the config, with its unknown keys already reported.

    Args:
        data: The value found at ``path``.
        path: Its field path.
        errors: Where problems are recorded.
        keys: The keys this mapping may have, in schema order.
        required: Keys that must be present.
    """

    def __init__(
        self,
        data: object,
        path: str,
        errors: Errors,
        keys: tuple[str, ...],
        *,
        required: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.errors = errors
        self.data: dict[str, object] = {}
        #: False when ``data`` was not a mapping at all.
        self.ok = isinstance(data, dict)
        if not isinstance(data, dict):
            errors.append(FieldError(path, f"must be a mapping, not {type_name(data)}"))
            return
        for key, value in data.items():
            if not isinstance(key, str):
                errors.append(FieldError(join(path, key_text(key)), "keys must be strings"))
            elif key in keys:
                self.data[key] = value
            else:
                errors.append(FieldError(join(path, key), unknown_key(key, keys)))
        for key in required:
            if key not in data:
                errors.append(FieldError(join(path, key), "is required"))

    def at(self, key: str) -> str:
        """The field path of ``key`` in this mapping."""
        return join(self.path, key)

    def has(self, key: str) -> bool:
        """Whether ``key`` was given (even as null)."""
        return key in self.data

    def raw(self, key: str) -> object:
        """The value of ``key`` as given, or ``None`` when absent."""
        return self.data.get(key)

    def error(self, key: str, message: str) -> None:
        """Record a problem with ``key``."""
        self.errors.append(FieldError(self.at(key), message))

    def child(self, key: str, keys: tuple[str, ...]) -> Section:
        """The mapping at ``key`` (empty when absent), read with ``keys``."""
        return Section(self.data.get(key, {}), self.at(key), self.errors, keys)

    def each(self, key: str, convert: Callable[[object], T]) -> list[T]:
        """Convert every item of the list at ``key``, each problem at ``key[i]``.

        Returns:
            The items that converted; ``[]`` when the key is absent or not a list.
        """
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.error(key, f"must be a list, not {type_name(value)}")
            return []
        result: list[T] = []
        for position, item in enumerate(value):
            try:
                result.append(convert(item))
            except ValueError as exc:
                self.errors.append(FieldError(index(self.at(key), position), str(exc)))
        return result

    def get(self, key: str, default: T, convert: Callable[[object], T]) -> T:
        """Convert the value of ``key``; ``default`` when absent or invalid.

        Args:
            key: The key to read.
            default: Returned when the key is absent, and as the stand-in when
                ``convert`` rejects the value.
            convert: Raises ``ValueError`` with a message for a bad value.

        Returns:
            The converted value or ``default``.
        """
        if key not in self.data:
            return default
        try:
            return convert(self.data[key])
        except ValueError as exc:
            self.error(key, str(exc))
            return default


def unknown_key(key: str, known: tuple[str, ...]) -> str:
    """The message for a key that is not in the schema, with a suggestion."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
    return f"unknown key{hint}"


def named_entries(
    data: object, path: str, errors: Errors, kind: str
) -> Iterator[tuple[str, object]]:
    """The ``name: body`` pairs of ``routes``, ``services`` or ``stages``.

    Invalid names are reported and skipped; ``null`` counts as empty (YAML writes
    an empty section as ``routes:``).

    Args:
        data: The section's value.
        path: Its field path.
        errors: Where problems are recorded.
        kind: ``"route"``, ``"service"`` or ``"stage"``, for messages.

    Yields:
        Valid names and their (unchecked) bodies.
    """
    if data is None:
        return
    if not isinstance(data, dict):
        errors.append(FieldError(path, f"must be a mapping of {kind} names, not {type_name(data)}"))
        return
    for name, body in data.items():
        if check_name(name, join(path, key_text(name)), errors, kind):
            assert isinstance(name, str)  # checked by check_name
            yield name, body


def check_name(name: object, path: str, errors: Errors, kind: str) -> bool:
    """Record a problem unless ``name`` is a valid route/service/stage name."""
    if not isinstance(name, str):
        errors.append(FieldError(path, f"{kind} names must be strings"))
        return False
    if NAME_RE.fullmatch(name) is None:
        errors.append(
            FieldError(
                path,
                f"invalid {kind} name {name!r}: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, at most 128 characters",
            )
        )
        return False
    return True


def as_list(value: object) -> list[object]:
    """Check for a list (YAML sequence / JSON array)."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list, not {type_name(value)}")
    return value


def as_bool(value: object) -> bool:
    """``true``/``false`` only."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {type_name(value)}")
    return value


def string(*, empty: bool = False) -> Callable[[object], str]:
    """A converter for strings; empty ones rejected unless ``empty``."""

    def convert(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type_name(value)}")
        if not empty and not value:
            raise ValueError("must not be empty")
        return value

    return convert


def optional(convert: Callable[[object], T]) -> Callable[[object], T | None]:
    """A converter that also accepts ``null`` (as ``None``)."""

    def wrapped(value: object) -> T | None:
        return None if value is None else convert(value)

    return wrapped


def integer(low: int, high: int) -> Callable[[object], int]:
    """A converter for ints in ``[low, high]`` (not bools, not floats)."""

    def convert(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {type_name(value)}")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return convert


def number(low: float, high: float) -> Callable[[object], float]:
    """A converter for finite numbers in ``[low, high]``, held as float."""

    def convert(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, not {type_name(value)}")
        # int/float comparison is exact in Python, so a huge int cannot overflow.
        if (isinstance(value, float) and math.isnan(value)) or not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return float(value)

    return convert


def duration(*, zero: bool = False) -> Callable[[object], float]:
    """A converter for durations; zero only where it means something."""

    def convert(value: object) -> float:
        seconds = parse_duration(value)
        if seconds == 0 and not zero:
            raise ValueError("must be greater than 0")
        return seconds

    return convert


def size(*, low: int = 0) -> Callable[[object], int]:
    """A converter for sizes in bytes, at least ``low``."""

    def convert(value: object) -> int:
        result = parse_size(value)
        if result < low:
            raise ValueError(f"must be at least {low} bytes")
        return result

    return convert


def choice(options: tuple[str, ...]) -> Callable[[object], str]:
    """A converter for one of a few fixed strings."""

    def convert(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {', '.join(options)}; got {shown(value)}")
        return value

    return convert

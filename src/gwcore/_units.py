"""Durations and sizes as people write them in a config file.

Durations are held as float seconds and written back with the largest unit that
represents the value *exactly* (``"1h"``, ``"5m"``, ``"10s"``, ``"250ms"``), falling
back to the shortest decimal seconds that parse back to the same float
(``"0.0015s"``). That exactness is what makes ``from_dict(to_dict(c)) == c``
hold for every duration, not just for round numbers.

Sizes are held as int bytes; the canonical form is the plain int, so only
parsing is needed here.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "MAX_DURATION",
    "MAX_SIZE",
    "MIN_DURATION",
    "format_duration",
    "parse_duration",
    "parse_size",
]

#: Longest duration accepted anywhere (one year): anything longer is a typo, and
#: the bound keeps every duration finite and exactly printable.
MAX_DURATION = 365 * 24 * 3600.0
#: Shortest non-zero duration (1 ms): a gateway cannot act on anything finer, and
#: the bound keeps the decimal fallback of :func:`format_duration` free of exponents.
MIN_DURATION = 0.001
#: Largest size accepted (1 PiB); larger numbers are typos.
MAX_SIZE = 2**50

# Written with a unit or without one (plain seconds). Exponents are accepted so
# that any float that ``repr`` prints can be read back.
_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)(ms|s|m|h)?")
_SIZE_RE = re.compile(r"([0-9]{1,20}) ?(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
# Largest unit first, so the first exact fit is the canonical spelling.
_FORMAT_UNITS = (("h", 3600), ("m", 60), ("s", 1))


def _scale(number: float, unit: str | None) -> float:
    # Milliseconds divide rather than multiply by 0.001: 1500 / 1000 is exactly
    # 1.5, while 1500 * 0.001 is 1.5000000000000002.
    if unit == "ms":
        return number / 1000
    return number * {"h": 3600, "m": 60}.get(unit or "s", 1)


def parse_duration(value: object) -> float:
    """Read a duration: ``"250ms"``, ``"10s"``, ``"1.5s"``, ``"5m"``, ``"1h"`` or a
    plain number of seconds (int, float, or a string without unit).

    Args:
        value: The value as it came from YAML/JSON.

    Returns:
        Seconds, ``0`` or between :data:`MIN_DURATION` and :data:`MAX_DURATION`.

    Raises:
        ValueError: With a message fit for a config error, when the value is not a
            duration or is out of range. ``bool`` is not a number here.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a duration like '250ms', '10s', '5m' or '1h'")
    if isinstance(value, str):
        match = _DURATION_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a duration (use e.g. '250ms', '10s', '5m', '1h')")
        seconds = _scale(float(match[1]), match[2])
    elif isinstance(value, int) and abs(value) > MAX_DURATION:
        # Checked before float() so that huge ints cannot overflow.
        seconds = math.inf
    else:
        seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("must not be negative")
    if seconds > MAX_DURATION:
        raise ValueError("must be at most 365 days")
    if 0 < seconds < MIN_DURATION:
        raise ValueError("must be 0 or at least 1ms")
    return seconds


def format_duration(seconds: float) -> str:
    """Write a duration with the largest unit that represents it exactly.

    ``parse_duration(format_duration(x)) == x`` for every ``x`` that
    :func:`parse_duration` can return.

    Args:
        seconds: Non-negative, finite seconds.

    Returns:
        E.g. ``"1h"``, ``"90s"`` (not ``"1.5m"``), ``"250ms"``, ``"0s"``, or decimal
        seconds such as ``"0.0015s"`` when no whole unit fits.

    Raises:
        ValueError: For a negative, infinite or NaN value.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format duration {seconds!r}")
    if seconds == 0:
        return "0s"
    for unit, factor in _FORMAT_UNITS:
        count = seconds / factor
        if count.is_integer() and _scale(float(int(count)), unit) == seconds:
            return f"{int(count)}{unit}"
    millis = seconds * 1000
    if millis.is_integer() and _scale(millis, "ms") == seconds:
        return f"{int(millis)}ms"
    # repr() is the shortest decimal that reads back as the same float.
    return f"{seconds!r}s"


def parse_size(value: object) -> int:
    """Read a size in bytes: an int, or ``"8KiB"``, ``"100MiB"``, ``"1GiB"``, ``"1MB"``.

    Args:
        value: The value as it came from YAML/JSON.

    Returns:
        Bytes, between 0 and :data:`MAX_SIZE`.

    Raises:
        ValueError: With a message fit for a config error. ``bool`` and ``float`` are
            not sizes.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a size: bytes as an int, or e.g. '8KiB', '100MiB', '1GB'")
    if isinstance(value, str):
        match = _SIZE_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a size (use e.g. 65536, '64KiB', '100MiB', '1GB')")
        value = int(match[1]) * _SIZE_UNITS[match[2]]
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_SIZE:
        raise ValueError("must be at most 1 PiB")
    return value

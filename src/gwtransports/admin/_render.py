"""Turning gateway values into JSON, diffs and Prometheus text.

Everything here is a pure function of its arguments; the admin handlers use it to
build response bodies.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Any

from gwcore.errors import FieldError

__all__ = ["diff", "error_body", "json_bytes", "jsonable", "prometheus"]


def jsonable(value: object) -> Any:
    """Convert a gwcore value (dataclasses, enums, frozensets, mappings) to JSON data.

    Dataclass fields that start with ``_`` are left out; frozensets become sorted
    lists so that the output is deterministic.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # JSON has no infinity or NaN; null says "no value" honestly.
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_bytes(data: object) -> bytes:
    """Serialise ``data`` (already JSON data) as indented UTF-8 JSON with a newline."""
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def error_body(
    error: str, detail: str, errors: tuple[FieldError, ...] | list[FieldError] = ()
) -> dict[str, Any]:
    """The one shape of every admin error: ``{"error", "detail", "errors": [...]}``."""
    return {
        "error": error,
        "detail": detail,
        "errors": [{"path": e.path, "message": e.message} for e in errors],
    }


def diff(old: object, new: object, path: str = "") -> list[dict[str, Any]]:
    """What changes from ``old`` to ``new`` (JSON data), as a list of operations.

    Each operation is ``{"op": "add"|"remove"|"change", "path": "routes.x.prefix",
    "old": ..., "new": ...}``; mappings are compared key by key, anything else as a
    whole. An empty list means the two are equal.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                ops.append({"op": "remove", "path": sub, "old": old[key]})
            elif key not in old:
                ops.append({"op": "add", "path": sub, "new": new[key]})
            else:
                ops.extend(diff(old[key], new[key], sub))
        return ops
    if old == new:
        return []
    return [{"op": "change", "path": path, "old": old, "new": new}]


# --------------------------------------------------------------------------- Prometheus

# The text exposition format (version 0.0.4): a metric name matches
# [a-zA-Z_:][a-zA-Z0-9_:]*; label values escape backslash, double quote and
# newline; HELP text escapes backslash and newline.
_METRIC_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")


def _metric_name(name: str) -> str:
    cleaned = "".join(c if c in _METRIC_OK else "_" for c in name)
    return cleaned if cleaned and not cleaned[0].isdigit() else "_" + cleaned


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _numeric_leaves(data: object, prefix: str) -> list[tuple[str, float]]:
    """Every number under ``data`` with its ``_``-joined key path."""
    if isinstance(data, bool | int | float):
        return [(prefix, data)]
    if isinstance(data, dict):
        leaves: list[tuple[str, float]] = []
        for key, value in data.items():
            leaves.extend(_numeric_leaves(value, f"{prefix}_{key}" if prefix else str(key)))
        return leaves
    return []


def prometheus(stats: Mapping[str, Any], health: Mapping[str, Any]) -> bytes:
    """Render stats (as :func:`jsonable` gives them) in the Prometheus text format.

    Per-route and per-service numbers become ``gw_route_<field>{route="..."}`` and
    ``gw_service_<field>{service="..."}``; other top-level numbers become
    ``gw_<field>``. Nested numbers (latency summaries) join their keys with ``_``.

    Args:
        stats: ``jsonable(gateway.stats(now))``.
        health: The ``/health`` body, for ``gw_up``, ``gw_store_ok`` and
            ``gw_config_generation``.

    Returns:
        The exposition body (``text/plain; version=0.0.4``).
    """
    families: dict[str, list[str]] = {}
    helps: dict[str, str] = {}

    def add(name: str, labels: dict[str, str], value: float, help_text: str) -> None:
        metric = _metric_name(name)
        label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
        sample = f"{metric}{{{label_text}}}" if label_text else metric
        families.setdefault(metric, []).append(f"{sample} {_number(value)}")
        helps.setdefault(metric, help_text)

    add("gw_up", {}, 1, "Whether the gateway answers (always 1 when scraped).")
    store = health.get("store", {})
    add("gw_store_ok", {"kind": str(store.get("kind", ""))}, bool(store.get("ok")), "Store ok.")
    add("gw_config_generation", {}, int(health.get("generation", 0)), "Config generation.")
    for group, label in (("routes", "route"), ("services", "service")):
        members = stats.get(group)
        if not isinstance(members, dict):
            continue
        for member, fields in sorted(members.items()):
            for key, value in _numeric_leaves(fields, ""):
                add(f"gw_{label}_{key}", {label: member}, value, f"Per-{label} {key}.")
    for key, value in stats.items():
        if key not in ("routes", "services", "generation"):
            for leaf, number in _numeric_leaves(value, key):
                add(f"gw_{leaf}", {}, number, f"Gateway {leaf}.")
    lines: list[str] = []
    for metric in sorted(families):
        help_text = helps[metric].replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} gauge")
        lines.extend(families[metric])
    return ("\n".join(lines) + "\n").encode()

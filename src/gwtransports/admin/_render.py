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

__all__ = [
    "diff",
    "error_body",
    "explain_json",
    "json_bytes",
    "jsonable",
    "prometheus",
    "stats_json",
]


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


def stats_json(stats: object) -> dict[str, Any]:
    """``gateway.stats(now)`` as the ``/stats`` document.

    Per-route and per-service entries are keyed by name, and ``(key, count)`` pairs
    (answers by status class) become objects, so a script reads
    ``services.users.upstream_ok`` instead of searching lists.
    """
    data = jsonable(stats)
    if not isinstance(data, dict):
        return {"stats": data}
    for group in ("routes", "services"):
        members = data.get(group)
        if isinstance(members, list) and all(isinstance(m, dict) and "name" in m for m in members):
            data[group] = {
                str(m["name"]): {k: _pairs(k, v) for k, v in m.items() if k != "name"}
                for m in members
            }
    return data


def _pairs(key: str, value: object) -> object:
    if key == "responses" and value == []:
        return {}
    if (
        isinstance(value, list)
        and value
        and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value)
    ):
        return {p[0]: p[1] for p in value}
    return value


def explain_json(explanation: Any) -> dict[str, Any]:
    """The router's explanation (:class:`gwcore.routes.Explanation`) as JSON: route
    names instead of whole routes, the error as ``{status, reason}``, and ``text``,
    the lines ``gw explain`` prints."""
    error = explanation.error
    return {
        "method": explanation.method,
        "host": explanation.host,
        "path": explanation.path,
        "winner": None if explanation.winner is None else explanation.winner.name,
        "upstream_path": explanation.upstream_path,
        "error": None
        if error is None
        else {"status": error.status_hint, "error": error.code, "reason": error.reason},
        "candidates": [
            {
                "route": c.route.name,
                "host": c.route.host,
                "prefix": c.route.prefix,
                "outcome": jsonable(c.outcome),
                "reason": c.reason,
            }
            for c in explanation.candidates
        ],
        "text": explanation.describe(),
    }


# (stats field, metric suffix, type, help) of the per-route and per-service
# numbers. Counters get the conventional ``_total`` suffix.
_ROUTE_METRICS = (("requests", "requests_total", "counter", "Requests matched to the route."),)
_SERVICE_METRICS = (
    ("requests", "requests_total", "counter", "First attempts sent to the service."),
    ("upstream_ok", "upstream_ok_total", "counter", "Attempts answered without failure."),
    ("upstream_bad", "upstream_bad_total", "counter", "Failed attempts (connect, timeout, 5xx)."),
    ("retries", "retries_total", "counter", "Retries sent."),
    ("panics", "panics_total", "counter", "Attempts sent while every endpoint was out."),
    ("members", "members", "gauge", "Endpoints currently resolved."),
    ("healthy_members", "healthy_members", "gauge", "Healthy, non-draining endpoints."),
    ("latency_count", "latency_samples_total", "counter", "Latency samples taken."),
    ("latency_p50", "latency_p50_seconds", "gauge", "Median response-head latency."),
    ("latency_p99", "latency_p99_seconds", "gauge", "99th percentile response-head latency."),
)


class _Exposition:
    """Collects samples by metric family and renders the text format."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def add(
        self, name: str, kind: str, help_text: str, value: float, labels: dict[str, str]
    ) -> None:
        metric = _metric_name(name)
        label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
        sample = f"{metric}{{{label_text}}}" if label_text else metric
        family = self.families.setdefault(metric, (kind, help_text, []))
        family[2].append(f"{sample} {_number(value)}")

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in sorted(self.families):
            kind, help_text, samples = self.families[metric]
            lines.append(f"# HELP {metric} {help_text.replace(chr(92), chr(92) * 2)}")
            lines.append(f"# TYPE {metric} {kind}")
            lines.extend(samples)
        return ("\n".join(lines) + "\n").encode()


def prometheus(stats: Mapping[str, Any], health: Mapping[str, Any]) -> bytes:
    """Render the ``/stats`` document in the Prometheus text format (0.0.4).

    Args:
        stats: :func:`stats_json` of the gateway's stats.
        health: The ``/health`` body, for ``gw_store_ok`` and ``gw_config_generation``.

    Returns:
        The exposition body (``text/plain; version=0.0.4``).
    """
    out = _Exposition()
    store = health.get("store", {})
    kind = str(store.get("kind", ""))
    out.add("gw_store_ok", "gauge", "Whether the admin store accepts writes.",
            bool(store.get("ok")), {"kind": kind})  # fmt: skip
    out.add("gw_config_generation", "gauge", "Config generation (bumped on every change).",
            int(health.get("generation", 0)), {})  # fmt: skip
    etcd = health.get("etcd")
    if isinstance(etcd, dict):  # etcd(key, default) endpoints watched, file store
        out.add("gw_etcd_ok", "gauge", "Whether etcd answers the endpoint watch.",
                bool(etcd.get("ok")), {})  # fmt: skip
        stale = etcd.get("stale_since")
        out.add("gw_etcd_stale_since_seconds", "gauge",
                "Unix time since when etcd has not answered (0 while it does).",
                float(stale) if isinstance(stale, int | float) else 0.0, {})  # fmt: skip
    routes: dict[str, Any] = stats["routes"] if isinstance(stats.get("routes"), dict) else {}
    services: dict[str, Any] = stats["services"] if isinstance(stats.get("services"), dict) else {}
    for name, fields in sorted(routes.items()):
        for key, suffix, metric_kind, help_text in _ROUTE_METRICS:
            if isinstance(fields.get(key), int | float):
                out.add(f"gw_route_{suffix}", metric_kind, help_text, fields[key], {"route": name})
        for status_class, count in sorted((fields.get("responses") or {}).items()):
            out.add("gw_route_responses_total", "counter", "Answers by status class.", count,
                    {"route": name, "class": status_class})  # fmt: skip
    for name, fields in sorted(services.items()):
        for key, suffix, metric_kind, help_text in _SERVICE_METRICS:
            value = fields.get(key)
            if isinstance(value, int | float):
                out.add(f"gw_service_{suffix}", metric_kind, help_text, value, {"service": name})
        ejected = fields.get("ejected")
        if isinstance(ejected, list):
            out.add("gw_service_ejected", "gauge", "Endpoints out of service.", len(ejected),
                    {"service": name})  # fmt: skip
    return out.render()

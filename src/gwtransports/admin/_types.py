"""The values the admin handlers take and give: requests, answers, writes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gwcore.errors import FieldError
from gwcore.events import Change
from gwtransports.admin import _render

__all__ = [
    "MAX_BODY",
    "AdminContext",
    "AdminRequest",
    "Response",
    "StoreStatus",
    "Write",
    "error_response",
    "instance_id",
    "ok",
    "route_name_for",
]

#: Admin bodies are config documents; 1 MiB holds thousands of routes and keeps a
#: careless or hostile client from making the gateway buffer much.
MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatus:
    """Where admin writes go and whether that works.

    Attributes:
        kind: ``"file"`` or ``"etcd"``.
        ok: Whether the last write or watch succeeded.
        stale_since: Wall-clock time (Unix seconds) since when the store has been
            failing, or ``None``.
        detail: Path of the state file or the etcd endpoints, for operators.
        etcd_ok: When the store is not etcd but ``etcd(key, default)`` endpoints
            are watched: whether etcd answers; ``None`` when nothing is watched.
        etcd_stale_since: Wall-clock time since when that watch has been failing.
    """

    kind: str
    ok: bool = True
    stale_since: float | None = None
    detail: str = ""
    etcd_ok: bool | None = None
    etcd_stale_since: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminContext:
    """Everything besides the gateway that an answer depends on.

    Attributes:
        token: Bearer token required on every call but ``/health``; ``None`` when
            the listener relies on loopback or client certificates.
        version: Gateway version for ``/health``.
        store: The store's status for ``/health`` and ``/metrics``.
    """

    token: str | None = None
    version: str = ""
    store: StoreStatus = field(default_factory=lambda: StoreStatus(kind="file"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminRequest:
    """One admin HTTP request, already read whole (at most :data:`MAX_BODY`).

    Attributes:
        method: Request method.
        target: Request target (``/routes/x?dry_run=1``).
        headers: Header fields, names lower-cased.
        body: Request body.
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or ``None``."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """An admin answer, ready to send.

    Attributes:
        status: HTTP status.
        body: Body bytes.
        content_type: ``Content-Type`` of the body.
        headers: Extra headers (``Allow`` on 405).
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """A validated write that the server must apply, persist, then acknowledge.

    Attributes:
        change: The one change to hand to ``Gateway.apply``.
        diff: What it changes in the config (empty for instance changes).
        status: Status to answer with once applied (201 for a new instance).
        extra: Fields added to the answer (``name`` of a derived route, ``id``).
        refused: Status and error code when the gateway refuses the change.
    """

    change: Change
    diff: tuple[dict[str, Any], ...] = ()
    status: int = 200
    extra: Mapping[str, Any] = field(default_factory=dict)
    refused: tuple[int, str] = (400, "invalid_config")


def error_response(
    status: int,
    error: str,
    detail: str,
    errors: tuple[FieldError, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """An error answer in the one admin error shape."""
    body = _render.json_bytes(_render.error_body(error, detail, errors))
    return Response(status=status, body=body, headers=headers)


def ok(data: object, status: int = 200) -> Response:
    return Response(status=status, body=_render.json_bytes(data))


def instance_id(service: str, url: str) -> str:
    """A stable id for an instance: registering the same URL twice is one instance."""
    return hashlib.sha256(f"{service}\0{url}".encode()).hexdigest()[:12]


def route_name_for(host: str | None, prefix: str) -> str:
    """A stable route name derived from what the route is (host and prefix).

    The readable part is a slug; the hash suffix keeps ``/a-b`` and ``/a/b`` apart.
    """
    words = re.findall(r"[a-z0-9]+", f"{host or ''} {prefix}".lower())
    slug = "-".join(words)[:48].strip("-") or "root"
    digest = hashlib.sha256(f"{host or ''}\0{prefix}".encode()).hexdigest()[:6]
    return f"{slug}-{digest}"

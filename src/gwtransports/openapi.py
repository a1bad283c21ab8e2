"""OpenAPI import and export: API descriptions in, routes and services out, and back.

Pure functions on plain data (what YAML/JSON parsers give); no I/O.

Import (:func:`import_document`) reads OpenAPI 3 or Swagger 2:

- The base path is the path of the first ``servers[].url`` (OpenAPI 3) or
  ``basePath`` (Swagger 2). Every path becomes a route whose prefix is the base
  path plus the path's literal part up to its first ``{template}`` segment
  (``/pets/{id}`` -> ``/pets``); paths sharing a prefix become one route
  accepting the union of their methods. The rewrite keeps the path without the
  base path, as WSO2 API Microgateway forwards ``/petstore/v1/pets`` to
  ``<endpoint>/pets``.
- Endpoints come from ``x-gw-endpoints`` (a list of URLs or ``{url, weight}``) or
  WSO2's ``x-wso2-production-endpoints`` (``{urls: [...]}``; ``etcd(key,
  default)`` URLs allowed), on the document or on a path item (a path's own
  endpoints make a service of its own). Without either, absolute server URLs are
  the endpoints. The service is named by ``x-gw-service`` or after ``info.title``.
- A document written by :func:`export_document` carries the exact entries in
  ``x-gw-routes`` and ``x-gw-services``; import takes those verbatim, so export
  then import gives back the same routes and services.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["OpenAPIError", "export_document", "import_document"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class OpenAPIError(ValueError):
    """The document is not OpenAPI 3 / Swagger 2, or gives no endpoints."""


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:64] or "api"


def _literal_prefix(base: str, path: str) -> tuple[str, str]:
    """(route prefix, rewrite) for an OpenAPI path under ``base``."""
    literal: list[str] = []
    for segment in path.split("/")[1:]:
        if "{" in segment:
            break
        literal.append(segment)
    rewrite = "/" + "/".join(s for s in literal if s)
    prefix = base.rstrip("/") + rewrite if rewrite != "/" else (base.rstrip("/") or "/")
    return prefix, rewrite


def _endpoints(node: dict[str, Any]) -> list[dict[str, Any]] | None:
    if "x-gw-endpoints" in node:
        raw = node["x-gw-endpoints"]
    elif "x-wso2-production-endpoints" in node:
        raw = node["x-wso2-production-endpoints"]
        raw = raw.get("urls", []) if isinstance(raw, dict) else raw
    else:
        return None
    if not isinstance(raw, list):
        raise OpenAPIError("endpoint extensions must be a list of URLs or {url, weight}")
    endpoints: list[dict[str, Any]] = []
    for item in raw:
        if isinstance(item, str):
            endpoints.append({"url": item})
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            endpoints.append({k: v for k, v in item.items() if k in ("url", "weight")})
        else:
            raise OpenAPIError(f"endpoint {item!r}: expected a URL or {{url, weight}}")
    return endpoints


def _servers(doc: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(base path, endpoints from absolute server URLs) of a document."""
    if str(doc.get("swagger", "")).startswith("2"):
        base = str(doc.get("basePath") or "/")
        host = doc.get("host")
        schemes = doc.get("schemes") or ["http"]
        urls = [f"{schemes[0]}://{host}{base.rstrip('/')}"] if host else []
        return base, [{"url": u} for u in urls]
    servers = doc.get("servers") or []
    if not servers or not isinstance(servers[0], dict):
        return "/", []
    url = str(servers[0].get("url", "/"))
    base = urlsplit(url).path or "/"
    absolute = [
        {"url": str(s["url"]).rstrip("/")}
        for s in servers
        if isinstance(s, dict) and re.match(r"^https?://", str(s.get("url", "")))
    ]
    return base, absolute


def import_document(doc: object) -> dict[str, Any]:
    """Turn an OpenAPI 3 / Swagger 2 document into config entries.

    Args:
        doc: The parsed document.

    Returns:
        ``{"routes": {...}, "services": {...}}`` in the config schema, ready to
        merge into a config (the gateway validates them).

    Raises:
        OpenAPIError: Not an OpenAPI/Swagger document, or no endpoints anywhere.
    """
    if not isinstance(doc, dict) or not ("openapi" in doc or "swagger" in doc):
        raise OpenAPIError("not an OpenAPI 3 or Swagger 2 document (no 'openapi'/'swagger' key)")
    if isinstance(doc.get("x-gw-routes"), dict) and isinstance(doc.get("x-gw-services"), dict):
        return {"routes": dict(doc["x-gw-routes"]), "services": dict(doc["x-gw-services"])}
    base, server_endpoints = _servers(doc)
    info: dict[str, Any] = doc["info"] if isinstance(doc.get("info"), dict) else {}
    service = str(doc.get("x-gw-service") or _slug(str(info.get("title", "api"))))
    default_endpoints = _endpoints(doc) or server_endpoints
    services: dict[str, dict[str, Any]] = {}
    routes: dict[str, dict[str, Any]] = {}
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        raise OpenAPIError("paths must be a mapping")
    for path, item in paths.items():
        if not isinstance(item, dict) or not str(path).startswith("/"):
            continue
        prefix, rewrite = _literal_prefix(base, str(path))
        own = _endpoints(item)
        target = str(item.get("x-gw-service") or (f"{service}-{_slug(prefix)}" if own else service))
        endpoints = own if own is not None else default_endpoints
        if not endpoints:
            raise OpenAPIError(f"{path}: no endpoints; add x-gw-endpoints to the document or path")
        services.setdefault(target, {"endpoints": endpoints})
        methods = sorted(m.upper() for m in item if m in _METHODS)
        name = str(item.get("x-gw-route") or _slug(f"{service} {prefix}"))
        route = routes.setdefault(name, {"prefix": prefix, "rewrite": rewrite, "service": target})
        if methods and route.get("methods") != []:
            route["methods"] = sorted(set(route.get("methods", [])) | set(methods))
        else:
            route["methods"] = []  # some path takes any method: so does the route
    for route in routes.values():
        if not route["methods"]:
            del route["methods"]
    return {"routes": routes, "services": services}


def export_document(config: dict[str, Any], title: str = "gw") -> dict[str, Any]:
    """Describe a config (its canonical dict) as an OpenAPI 3 document.

    Every route becomes a path item (its prefix) with one operation per accepted
    method and ``x-gw-routes`` naming the routes behind it; the path carries
    ``x-gw-endpoints`` of the route's service so other tools can read it. The exact
    entries travel in the top-level ``x-gw-routes`` and ``x-gw-services``.

    Args:
        config: ``gwcore.config.to_dict(config)`` (or ``GET /config``).
        title: ``info.title``.

    Returns:
        The document.
    """
    routes: dict[str, Any] = dict(config.get("routes") or {})
    services: dict[str, Any] = dict(config.get("services") or {})
    paths: dict[str, dict[str, Any]] = {}
    for name, route in sorted(routes.items()):
        item = paths.setdefault(str(route["prefix"]), {"x-gw-routes": []})
        item["x-gw-routes"].append(name)
        methods = route.get("methods") or ["GET", "POST", "PUT", "DELETE", "PATCH"]
        service = route.get("service") or next(
            (b["service"] for b in route.get("backends") or []), None
        )
        description = f"route {name} to service {service}" if service else f"route {name}"
        for method in methods:
            operation = {"operationId": f"{name}-{method.lower()}", "summary": description}
            item.setdefault(
                method.lower(),
                {**operation, "responses": {"default": {"description": "upstream response"}}},
            )
        if service and service in services:
            item.setdefault("x-gw-endpoints", services[service].get("endpoints", []))
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "servers": [{"url": "/"}],
        "paths": paths,
        "x-gw-routes": routes,
        "x-gw-services": services,
    }

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given

from gwcore.config import Config, from_dict, to_dict
from gwtransports.openapi import OpenAPIError, export_document, import_document
from tests.gwcore.strategies import configs

PETSTORE_3 = """
openapi: 3.0.1
info: {title: Swagger Petstore, version: 1.0.0}
servers: [{url: "http://petstore.example.com/petstore/v1"}]
x-wso2-production-endpoints:
  urls: ["etcd(petstore-url, http://127.0.0.1:9400/v1)"]
paths:
  /pets:
    get: {responses: {"200": {description: ok}}}
    post: {responses: {"201": {description: created}}}
  /pets/{petId}:
    get: {responses: {"200": {description: ok}}}
    delete: {responses: {"204": {description: gone}}}
  /store/inventory:
    x-gw-endpoints: [{url: "http://127.0.0.1:9500", weight: 2}, "http://127.0.0.1:9501"]
    get: {responses: {"200": {description: ok}}}
"""

SWAGGER_2 = """
swagger: "2.0"
info: {title: Users API, version: "2"}
host: users.internal:8000
basePath: /users/v2
schemes: [http]
paths:
  /profile/{id}:
    get: {responses: {"200": {description: ok}}}
"""


def _merged(entries: dict[str, Any]) -> Config:
    return from_dict({"services": entries["services"], "routes": entries["routes"]})


def test_openapi_3_with_wso2_and_gw_endpoints() -> None:
    entries = import_document(yaml.safe_load(PETSTORE_3))
    config = _merged(entries)  # valid config entries
    pets = config.routes["swagger-petstore-petstore-v1-pets"]
    assert pets.prefix == "/petstore/v1/pets"
    assert pets.rewrite == "/pets"
    assert pets.methods == frozenset({"GET", "POST", "DELETE"})
    assert pets.backends[0].service == "swagger-petstore"
    default = config.services["swagger-petstore"]
    assert [e.url for e in default.endpoints] == ["etcd(petstore-url, http://127.0.0.1:9400/v1)"]
    store = config.routes["swagger-petstore-petstore-v1-store-inventory"]
    own = config.services[store.backends[0].service]
    assert [(e.url, e.weight) for e in own.endpoints] == [
        ("http://127.0.0.1:9500", 2),
        ("http://127.0.0.1:9501", 1),
    ]


def test_swagger_2_uses_host_and_base_path() -> None:
    config = _merged(import_document(yaml.safe_load(SWAGGER_2)))
    (route,) = config.routes.values()
    assert (route.prefix, route.rewrite, route.methods) == (
        "/users/v2/profile",
        "/profile",
        frozenset({"GET"}),
    )
    (service,) = config.services.values()
    assert [e.url for e in service.endpoints] == ["http://users.internal:8000/users/v2"]


@pytest.mark.parametrize(
    "doc",
    [{}, {"paths": {}}, [], "openapi", {"openapi": "3.0.0", "paths": {"/a": {"get": {}}}}],
)
def test_not_openapi_or_no_endpoints(doc: object) -> None:
    with pytest.raises(OpenAPIError):
        import_document(doc)


@given(configs())
def test_export_then_import_gives_the_same_routes_and_services(config: Config) -> None:
    canonical = json.loads(json.dumps(to_dict(config)))
    document = export_document(canonical)
    assert document["openapi"].startswith("3.")
    for path, item in document["paths"].items():
        assert path.startswith("/")
        assert item["x-gw-routes"]
    # Through JSON text (YAML text is exercised end to end by the CLI test, and
    # PyYAML is too slow for a property run).
    back = import_document(json.loads(json.dumps(document)))
    assert back == {"routes": canonical["routes"], "services": canonical["services"]}
    rebuilt = from_dict({**canonical, **back})
    assert rebuilt.routes == config.routes
    assert rebuilt.services == config.services

"""The OpenAPI document: FastAPI's, plus the JSON request bodies that `JsonBody` reads itself
(so their schemas and `requestBody` appear as if FastAPI had parsed them)."""

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from starters.api.body import JsonBody

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_422 = "`VALIDATION_ERROR`: `fields` names every bad field and what is wrong."


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Make `app.openapi()` (and `/openapi.json`) return the completed document.

    `routers` are the app's, included without a prefix.
    """

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)  # builds and caches FastAPI's own
            _add_request_bodies(routers, schema)
            _one_error_shape(schema)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = document  # type: ignore[method-assign]


def dumps(schema: dict[str, Any]) -> str:
    """The document as checked in at docs/openapi.json."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _add_request_bodies(routers: Sequence[APIRouter], schema: dict[str, Any]) -> None:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    routes = [route for router in routers for route in router.routes]
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        for model in _json_body_models(route.dependant):
            _add_component(components, model)
            for method in route.methods or ():
                operation = schema["paths"][route.path_format][method.lower()]
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}
                        }
                    },
                }


def _json_body_models(dependant: Dependant) -> list[type[BaseModel]]:
    found = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, JsonBody):
            found.append(sub.call.model)
        found.extend(_json_body_models(sub))
    return found


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    definition = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, sub in {**definition.pop("$defs", {}), model.__name__: definition}.items():
        if components.setdefault(name, sub) != sub:
            raise RuntimeError(f"two different schemas are both named {name!r} in the OpenAPI")


def _one_error_shape(schema: dict[str, Any]) -> None:
    """Every error of the API answers in one shape (errors.py): say so where a route left its
    error body undocumented, and where FastAPI documented its own 422 body instead."""
    fastapi_ref = {"$ref": REF_TEMPLATE.format(model="HTTPValidationError")}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                if "content" not in answer:
                    answer["content"] = _error_body()
                elif answer["content"].get("application/json", {}).get("schema") == fastapi_ref:
                    answer["content"] = _error_body()
                    answer["description"] = ERROR_422
    components = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    schema["components"]["schemas"] = dict(sorted(components.items()))


def _error_body() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}}}

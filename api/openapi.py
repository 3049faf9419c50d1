"""The OpenAPI document (``/openapi.json``) as a client generator needs it.

FastAPI writes the document from the routes and models; :func:`finish` then fixes what
generators stumble on, by rules rather than by name where it can:

- every schema has a unique, meaningful name, and its title is that name (two models of
  one class name are prefixed with their flow's (or module's): ``DealerOrderItem``; a model read
  from requests and written in responses is ``LineItem`` in and ``LineItemView`` out);
- the body of ``POST /orders`` is the named union ``CreateOrderRequest``;
- an order's ``flow`` and statuses are the named enums ``FlowName`` and ``OrderStatus``;
  an inline enum gets a name of its own (``DealerDetailsReviewStep``), or the one of
  :data:`SHARED_ENUMS` with its values (``Currency``, one type in every flow's request);
- ``OrderDetail`` is ``OrderView`` plus ``pending``, not a copy of it;
- every property a response always carries is required;
- every 4xx and 5xx answer is an ``ErrorBody``; 429 and 503 declare ``Retry-After``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.errors import RETRY_AFTER, ErrorBody
from models.money import CARD_CURRENCIES

Json = dict[str, Any]
PREFIX = "#/components/schemas/"

# Text fields that hold a named enum's value (the models keep them ``str``: the workflows
# fill them, and the enums are the API's, built from the catalog).
ENUM_FIELDS = {
    ("OrderView", "flow"): "FlowName",
    ("OrderView", "status"): "OrderStatus",
    ("OrderSummary", "flow"): "FlowName",
    ("OrderSummary", "status"): "OrderStatus",
    ("Transition", "from_status"): "OrderStatus",
    ("Transition", "to_status"): "OrderStatus",
}

# Enums many models share as one type (models.common.Currency): an inline enum with these
# values is a reference to the named one, not a copy named after its owner.
SHARED_ENUMS = {"Currency": sorted(CARD_CURRENCIES)}

# The one body of every error answer; validation errors are no longer FastAPI's.
ERROR_SCHEMA = ErrorBody.__name__
FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


def operation_id(route: APIRoute) -> str:
    """A route's operation id: its name (``create_order``), short and stable."""
    return route.name


def install(app: FastAPI) -> None:
    """Serve :func:`finish`'s document at ``/openapi.json`` (built once, on first request)."""
    build = app.openapi

    def openapi() -> Json:
        if app.openapi_schema is None:
            app.openapi_schema = finish(build(), partial=_partial_responses(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI keeps an included router whole, behind a private wrapper.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _partial_responses(app: FastAPI) -> frozenset[str]:
    """The response models of routes that leave some fields out (``exclude_none``, ...)."""
    return frozenset(
        getattr(route.response_model, "__name__", "")
        for route in _api_routes(app.routes)
        if (
            route.response_model_exclude_none
            or route.response_model_exclude_unset
            or route.response_model_exclude_defaults
        )
    )


def finish(doc: Json, *, partial: frozenset[str] = frozenset()) -> Json:
    """The document FastAPI wrote, fixed as the module says (in place; returned).

    ``partial`` names response schemas whose fields are not always present.
    """
    schemas: Json = doc["components"]["schemas"]
    _rename(doc, schemas)
    _name_create_body(doc, schemas)
    _name_inline_enums(schemas)
    for (name, field), enum in ENUM_FIELDS.items():
        _use_enum(schemas[name]["properties"], field, enum)
    _detail_extends_view(schemas)
    _require_response_fields(doc, schemas, partial)
    _one_error_body(doc, schemas)
    for name, schema in schemas.items():
        schema["title"] = name
    return doc


def _camel(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def _new_name(key: str) -> str:
    """A meaningful name for a schema FastAPI had to qualify."""
    if "__" in key:  # flows__dealer_order__models__Item: two classes of one name
        parts = key.split("__")
        owner = parts[1] if parts[0] == "flows" and len(parts) > 3 else parts[-2]
        return _camel(owner) + parts[-1]
    if key.endswith("-Input"):  # read from requests: the name clients build it by
        return key.removesuffix("-Input")
    if key.endswith("-Output"):  # written in responses
        return key.removesuffix("-Output") + "View"
    return key


def _walk(node: Any) -> Iterator[Json]:
    """Every object in ``node``, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _rename(doc: Json, schemas: Json) -> None:
    renames = {key: _new_name(key) for key in schemas if _new_name(key) != key}
    clashes = set(renames.values()) & (set(schemas) - set(renames))
    assert not clashes, f"schema names clash after renaming: {clashes}"
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
    refs = {PREFIX + old: PREFIX + new for old, new in renames.items()}
    for node in _walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        mapping = node.get("mapping")
        if isinstance(mapping, dict):
            node["mapping"] = {tag: refs.get(target, target) for tag, target in mapping.items()}


def _operations(doc: Json) -> Iterator[Json]:
    for item in doc["paths"].values():
        yield from item.values()


def _name_create_body(doc: Json, schemas: Json) -> None:
    """An inline union body (``POST /orders``) becomes ``<OperationId>Request``."""
    for operation in _operations(doc):
        content = operation.get("requestBody", {}).get("content", {})
        for media in content.values():
            schema = media.get("schema", {})
            if "oneOf" in schema:
                name = _camel(operation["operationId"]) + "Request"
                tag = schema.get("discriminator", {}).get("propertyName", "")
                schemas[name] = {**schema, "description": f"One of these, chosen by `{tag}`."}
                media["schema"] = {"$ref": PREFIX + name}


def _enum_name(schemas: Json, owner: str, prop: str, choice: Json) -> str:
    shared = next((n for n, values in SHARED_ENUMS.items() if choice["enum"] == values), None)
    if shared is not None:
        assert schemas.get(shared, choice)["enum"] == choice["enum"], f"{shared} is taken"
        return shared
    name = owner + _camel(prop)
    assert name not in schemas, f"enum name {name} is taken"
    return name


def _name_inline_enums(schemas: Json) -> None:
    """An enum inside a schema's property becomes ``<Schema><Property>`` (or a shared one)."""
    for owner in list(schemas):
        for prop, schema in schemas[owner].get("properties", {}).items():
            for choice in [schema, *schema.get("anyOf", [])]:
                if "enum" in choice and len(choice["enum"]) > 1 and "$ref" not in choice:
                    name = _enum_name(schemas, owner, prop, choice)
                    schemas[name] = {k: v for k, v in choice.items() if k != "title"}
                    ref = {"$ref": PREFIX + name}
                    if choice is schema:
                        schemas[owner]["properties"][prop] = ref
                    else:
                        schema["anyOf"] = [ref if c is choice else c for c in schema["anyOf"]]


def _use_enum(properties: Json, field: str, enum: str) -> None:
    """``field`` holds ``enum``'s values (or null, if it could before)."""
    nullable = {"type": "null"} in properties[field].get("anyOf", [])
    ref = {"$ref": PREFIX + enum}
    properties[field] = {"anyOf": [ref, {"type": "null"}]} if nullable else ref


def _detail_extends_view(schemas: Json) -> None:
    """``OrderDetail`` as ``OrderView`` plus what it adds."""
    detail, view = schemas["OrderDetail"], schemas["OrderView"]
    added = {k: v for k, v in detail["properties"].items() if k not in view["properties"]}
    schemas["OrderDetail"] = {
        "allOf": [
            {"$ref": PREFIX + "OrderView"},
            {"type": "object", "properties": added, "required": sorted(added)},
        ],
        "description": detail.get("description", ""),
    }
    # A view that forbade other properties would refuse every detail.
    view.pop("additionalProperties", None)


def _refs(node: Any) -> Iterator[str]:
    for obj in _walk(node):
        ref = obj.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            yield ref.removeprefix(PREFIX)


def _reachable(schemas: Json, roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            todo.extend(_refs(schemas[name]))
    return seen


def _require_response_fields(doc: Json, schemas: Json, partial: frozenset[str]) -> None:
    """A response model serialises every field: each property of a response-only schema
    is required (models read from requests too have a schema per direction already), but
    in ``partial`` schemas and theirs."""
    responses: set[str] = set()
    requests: set[str] = set()
    for operation in _operations(doc):
        requests |= set(_refs(operation.get("requestBody", {})))
        requests |= set(_refs(operation.get("parameters", [])))
        responses |= set(_refs(operation.get("responses", {})))
    complete = _reachable(schemas, responses) - _reachable(schemas, requests | set(partial))
    for name in complete:
        for part in [schemas[name], *schemas[name].get("allOf", [])]:
            if part.get("properties"):
                part["required"] = list(part["properties"])


def _one_error_body(doc: Json, schemas: Json) -> None:
    for operation in _operations(doc):
        for status, response in operation.get("responses", {}).items():
            if not re.fullmatch(r"[45]\d\d", status):
                continue
            response["content"] = {"application/json": {"schema": {"$ref": PREFIX + ERROR_SCHEMA}}}
            if int(status) in RETRY_AFTER:
                response["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer"},
                    }
                }
    for name in FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)

"""The OpenAPI document, completed with what FastAPI cannot infer from the routes alone.

For every operation under /v1: the scope it needs (already in its security requirement, and
now in its description too, where /docs shows it), the error envelope every failure uses
(instead of FastAPI's own 422 shape), the conventions (`If-None-Match` → 304 on reads,
`Idempotency-Key` on POST) and the rate-limit headers every answer carries.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from botyard.api_keys.deps import SECURITY_SCHEME, SECURITY_SCHEME_NAME, required_scopes
from botyard.reference.codes import ERROR_CODES
from botyard.widget.deps import PUBLISHABLE_SCHEME, PUBLISHABLE_SCHEME_NAME, uses_publishable_key

API_PREFIX = "/v1/"
SCHEME = SECURITY_SCHEME_NAME
ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "doc_url", "request_id"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "invalid_api_key, insufficient_permissions, "
                    "rate_limit_exceeded, invalid_request, validation_error, not_found, "
                    "conflict, payload_too_large or api_error",
                },
                "code": {"type": "string", "description": "What went wrong, e.g. api_key_expired"},
                "message": {"type": "string", "description": "What went wrong and what to do"},
                "doc_url": {"type": "string"},
                "request_id": {"type": ["string", "null"], "description": "Quote it to support"},
                "param": {"type": "string", "description": "The field or parameter at fault"},
            },
        }
    },
}

ERRORS: dict[str, str] = {
    "400": "Invalid request (`param` names the problem)",
    "401": "Invalid API Key: missing, malformed, unknown, expired, revoked or sent in the URL",
    "403": "Insufficient Permissions: missing scope, plan without API access, or IP not allowed",
    "422": "Validation error (`param` names the field), including unknown body fields",
    "429": "Rate limit exceeded; `Retry-After` says when to retry",
}
ID_ERRORS = {"404": "No such object in your organization (an id given in the path or a filter)"}
WRITE_ERRORS = {"409": "Conflict with the current state"}
BODY_ERRORS = {
    "413": "Request body too large",
    "415": "Request body not sent as JSON (`Content-Type: application/json`)",
}

INT_HEADER = {"schema": {"type": "integer"}}
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "X-Request-Id": {"description": "Identifies the request", "schema": {"type": "string"}},
    "X-RateLimit-Limit": {"description": "Requests allowed per hour", **INT_HEADER},
    "X-RateLimit-Remaining": {"description": "Requests left in this window", **INT_HEADER},
    "X-RateLimit-Used": {"description": "Requests used in this window", **INT_HEADER},
    "X-RateLimit-Reset": {"description": "When the window resets (epoch seconds)", **INT_HEADER},
}
ETAG_HEADER = {"ETag": {"description": "Send it as `If-None-Match` to get 304 when unchanged"}}

IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An `ETag` from an earlier answer: 304 without a body when nothing changed "
    "(a 304 is not counted against the rate limit).",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A unique value (such as a UUID) to retry this POST safely: a retry with the "
    "same key and body within 24 hours returns the first response (with "
    "`Idempotent-Replayed: true`) instead of acting twice; the same key with another body is "
    "refused (422 `idempotency_key_reused`).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def scope_note(security: list[dict[str, list[str]]] | None) -> str | None:
    if not security:
        return None
    if any(PUBLISHABLE_SCHEME_NAME in requirement for requirement in security):
        return "**Key:** a publishable key (`byp_…`) of the bot, from one of its allowed origins."
    scopes = sorted({s for requirement in security for s in requirement.get(SCHEME, [])})
    if not scopes:
        return "**Scope:** any valid API key."
    return "**Scope:** " + ", ".join(f"`{s}`" for s in scopes) + "."


def _error_responses(method: str, path: str, operation: dict[str, Any]) -> dict[str, str]:
    errors = dict(ERRORS)
    names = [p.get("name", "") for p in operation.get("parameters", [])]
    if "{" in path or any(name.endswith("_id") for name in names):
        errors.update(ID_ERRORS)
    if method in ("post", "patch", "put", "delete"):
        errors.update(WRITE_ERRORS)
    if "requestBody" in operation:
        errors.update(BODY_ERRORS)
    return errors


def codes_by_status() -> dict[str, str]:
    """The registry's codes per status, so each documented error response names its codes."""
    grouped: dict[str, list[str]] = {}
    for entry in ERROR_CODES:
        grouped.setdefault(str(entry.status), []).append(f"`{entry.code}`")
    return {status: ", ".join(codes) for status, codes in grouped.items()}


def _complete_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    note = scope_note(operation.get("security"))
    if note:
        description = operation.get("description", "")
        operation["description"] = f"{note}\n\n{description}".strip()
    responses: dict[str, Any] = operation.setdefault("responses", {})
    codes = codes_by_status()
    for status, description in _error_responses(method, path, operation).items():
        listed = f" Codes: {codes[status]} (see /docs/errors)." if status in codes else ""
        responses[status] = {
            "description": description.rstrip(".") + "." + listed,
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    for status, response in responses.items():
        if status.startswith("2"):
            headers = dict(RATE_LIMIT_HEADERS)
            if method == "get":
                headers.update(ETAG_HEADER)
            response.setdefault("headers", {}).update(headers)
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    if method == "get":
        parameters.append(IF_NONE_MATCH)
        responses["304"] = {"description": "Not modified since the `ETag` sent"}
    if method == "post":
        parameters.append(IDEMPOTENCY_KEY)


def _declare_security(app: FastAPI, schema: dict[str, Any]) -> None:
    """Each authenticated operation requires the Bearer scheme with the scopes it declares."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[SCHEME] = SECURITY_SCHEME
    schemes[PUBLISHABLE_SCHEME_NAME] = PUBLISHABLE_SCHEME
    paths = schema.get("paths", {})
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if uses_publishable_key(route.dependant):
            for method in route.methods or ():
                operation = paths.get(context.path or route.path, {}).get(method.lower())
                if operation is not None:
                    operation["security"] = [{PUBLISHABLE_SCHEME_NAME: []}]
            continue
        scopes = required_scopes(route.dependant)
        if scopes is None:
            continue
        for method in route.methods or ():
            operation = paths.get(context.path or route.path, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{SCHEME: scopes}]


LOCAL_DEFS_PREFIX = "#/$defs/"
COMPONENT_PREFIX = "#/components/schemas/"


def _hoist_local_defs(node: Any, schemas: dict[str, Any]) -> None:
    """Move ``$defs`` that a hand-written ``openapi_extra`` schema carries (Pydantic's
    ``TypeAdapter.json_schema()``) into ``components/schemas`` and point its refs there.

    Left in place, ``#/$defs/X`` points at the document's root, where nothing is: ReDoc stops
    with "Invalid reference token: $defs" and other tools cannot resolve the body.
    """
    if isinstance(node, dict):
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            for name, definition in defs.items():
                if schemas.setdefault(name, definition) != definition:
                    raise ValueError(f"two different OpenAPI schemas are both named {name}")
                _hoist_local_defs(definition, schemas)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(LOCAL_DEFS_PREFIX):
            node["$ref"] = COMPONENT_PREFIX + ref.removeprefix(LOCAL_DEFS_PREFIX)
        for value in node.values():
            _hoist_local_defs(value, schemas)
    elif isinstance(node, list):
        for item in node:
            _hoist_local_defs(item, schemas)


ITEMS_ELSEWHERE = {
    "/v1/bots/{bot_id}/conversations": "/v1/conversations/{conversation_id}",
    "/v1/team/members": "/v1/team/invitations/{invitation_id}",
    "/v1/api-keys/{key_id}/rotate": "/v1/api-keys/{key_id}",
}
"""Creations whose object is then addressed under another path (a rotation makes a new key)."""

NO_LINKS_FROM = ("/v1/widget/",)
"""Widget routes take a publishable key, so what they create is not reachable with a secret one."""


def _item_path(collection: str, paths: dict[str, Any]) -> str | None:
    """Where the object a POST on ``collection`` creates lives: ``…/{its_id}``."""
    if collection in ITEMS_ELSEWHERE:
        return ITEMS_ELSEWHERE[collection]
    for path in paths:
        if path.startswith(collection + "/{"):
            return path[: path.index("}", len(collection)) + 1]
    return None


def _add_links(paths: dict[str, Any]) -> None:
    """OpenAPI links from each creation to what can be done with the created object.

    A created object's ``id`` fills the target's id parameter and the creation's own path
    parameters fill the rest, so a client (or schemathesis' stateful run) can go from
    ``POST /v1/bots`` to ``GET /v1/bots/{bot_id}``, its knowledge, its conversations, ….
    """
    for collection, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201")
        if created is None or collection.startswith(NO_LINKS_FROM):
            continue
        item = _item_path(collection, paths)
        if item is None:
            continue
        id_param = item[item.rindex("{") + 1 : -1]
        known = {*_PATH_PARAMETER.findall(collection)} - {id_param}
        links: dict[str, Any] = {}
        for path, targets in paths.items():
            if path != item and not path.startswith(item + "/"):
                continue
            if not set(_PATH_PARAMETER.findall(path)) <= known | {id_param}:
                continue
            for target in targets.values():
                parameters = {
                    name: "$response.body#/id" if name == id_param else f"$request.path.{name}"
                    for name in _PATH_PARAMETER.findall(path)
                }
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": parameters,
                }
        if links:
            created["links"] = links


_PATH_PARAMETER = re.compile(r"\{([^}]+)\}")


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    _declare_security(app, schema)
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in operations.items():
            _complete_operation(method, path, operation)
    _add_links(schema.get("paths", {}))
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    _hoist_local_defs(schema.get("paths", {}), schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            invalid = operation.get("responses", {}).get("422")
            if invalid is not None:
                invalid["content"] = {"application/json": {"schema": ERROR_REF}}
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed document (the pages that show it are in ``botyard.apidocs``)."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]

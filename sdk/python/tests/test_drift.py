"""The SDK against the server's OpenAPI document, so that neither can change without the other.

Every /v1 operation of ``create_app().openapi()`` has an SDK method and every SDK method's
method and path exist there; each method takes the operation's path, query and body
parameters; and each response type mirrors its schema field for field. A new endpoint, a new
parameter or a new response field without SDK support fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from botyard.main import create_app
from botyard_sdk import AsyncBotyard, Botyard, types
from botyard_sdk._model import APIObject
from botyard_sdk._operations import ListOperation, Operation, Resource
from botyard_sdk._routes import ROUTES
from sdk_support import API_KEY

API_PREFIX = "/v1/"
METHODS = {"get", "post", "patch", "put", "delete"}
WIDGET_ROUTES_REASON = (
    "the website widget's visitor API: called by /widget.js in browsers with a publishable "
    "key, never by a server, where the SDK runs with a secret key the route refuses"
)
NOT_IN_SDK: dict[tuple[str, str], str] = {
    ("GET", "/v1/widget/config"): WIDGET_ROUTES_REASON,
    ("POST", "/v1/widget/conversations"): WIDGET_ROUTES_REASON,
    ("GET", "/v1/widget/conversations/{conversation_id}/messages"): WIDGET_ROUTES_REASON,
    ("POST", "/v1/widget/conversations/{conversation_id}/messages"): WIDGET_ROUTES_REASON,
    ("POST", "/v1/credentials/revoke"): "takes no API key: whoever finds a leaked key reports "
    "it with one unauthenticated POST (curl in the README), not through a client made for a key",
    ("POST", "/v1/secret-scanning/github"): "called by GitHub only, with GitHub's signature",
}
"""(method, path) of /v1 operations left out on purpose, with the reason."""
ALIASES = {"from": "from_", "grace_period": "grace"}
"""API names that are not good Python argument names, to the SDK's."""
SET_BY_THE_METHOD = {"conversations.close": {"status"}}
"""Body fields an SDK method fills in itself (close always sends status "closed")."""

Document = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Document:
    return create_app().openapi()


def operations(document: Document) -> dict[tuple[str, str], Document]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        if path.startswith(API_PREFIX)
        for method, operation in item.items()
        if method in METHODS
    }


def sdk_methods(client: Resource[Any], prefix: str = "") -> dict[str, Operation[Any, Any]]:
    """Every operation reachable from the client, by its dotted name on it."""
    found: dict[str, Any] = {}
    for name, value in inspect.getmembers_static(type(client)):
        if isinstance(value, Operation | ListOperation):
            found[prefix + name] = value
    for name, value in vars(client).items():
        if isinstance(value, Resource) and not name.startswith("_"):
            found.update(sdk_methods(value, f"{prefix}{name}."))
    return found


def schema_named(document: Document, ref: str) -> Document:
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def body_schema(document: Document, operation: Document) -> Document | None:
    if "requestBody" not in operation:
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            return schema_named(document, option["$ref"])
    return None


def success_schema(document: Document, operation: Document) -> Document:
    (status,) = [code for code in operation["responses"] if code.startswith("2")]
    content = operation["responses"][status]["content"]["application/json"]
    return schema_named(document, content["schema"]["$ref"])


def test_every_operation_of_the_document_has_an_sdk_method_and_back(document: Document) -> None:
    in_document = set(operations(document)) - set(NOT_IN_SDK)
    in_sdk = {(route.method, route.path) for route in ROUTES.values()}
    assert in_document - in_sdk == set(), "operations the SDK lacks: add them to _routes.py"
    assert in_sdk - in_document == set(), "SDK routes the server does not have"
    assert len(in_sdk) == len(ROUTES), "two SDK methods share one operation"


@pytest.mark.parametrize("client_class", [Botyard, AsyncBotyard])
def test_each_route_is_the_method_of_the_same_name_on_both_clients(
    client_class: type[Botyard] | type[AsyncBotyard],
) -> None:
    client = client_class(API_KEY, "http://botyard.test")
    methods = sdk_methods(client)
    assert set(methods) == set(ROUTES)
    for name, method in methods.items():
        assert method.name == name, f"client.{name} is bound to the route {method.name!r}"


def test_each_method_takes_the_operations_parameters(document: Document) -> None:
    client = Botyard(API_KEY, "http://botyard.test")
    documented = operations(document)
    for name, method in sdk_methods(client).items():
        operation = documented[(method.route.method, method.route.path)]
        parameters = list(inspect.signature(method.build).parameters.values())[1:]
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        keywords = {p.name for p in parameters} - set(positional)
        declared = operation.get("parameters", [])
        path = [p["name"] for p in declared if p["in"] == "path"]
        query = {ALIASES.get(p["name"], p["name"]) for p in declared if p["in"] == "query"}
        assert positional[: len(path)] == path, name
        body = body_schema(document, operation)
        fields = {ALIASES.get(f, f) for f in (body or {}).get("properties", {})}
        fields -= SET_BY_THE_METHOD.get(name, set())
        assert query | fields == keywords | set(positional[len(path) :]), name
        required = set((body or {}).get("required", []))
        optional = {p.name for p in parameters if p.default is not p.empty}
        assert not required & optional, f"{name}: required body fields given defaults"


def test_each_method_answers_the_type_of_its_schema(document: Document) -> None:
    client = Botyard(API_KEY, "http://botyard.test")
    documented = operations(document)
    for name, method in sdk_methods(client).items():
        schema = success_schema(document, documented[(method.route.method, method.route.path)])
        if isinstance(method, ListOperation):
            schema = schema_named(document, schema["properties"]["data"]["items"]["$ref"])
        answered = method.parse.__self__  # type: ignore[attr-defined]
        assert schema == document["components"]["schemas"][answered.__schema__], name


def api_types() -> list[type[APIObject]]:
    return [
        value
        for value in vars(types).values()
        if isinstance(value, type) and issubclass(value, APIObject) and value is not APIObject
    ]


@pytest.mark.parametrize("kind", api_types(), ids=lambda kind: kind.__name__)
def test_each_type_has_every_field_of_its_schema(document: Document, kind: type[APIObject]) -> None:
    schema = document["components"]["schemas"][kind.__schema__]
    renamed = {field: key for key, field in kind.__renames__.items()}
    fields = {
        renamed.get(f.name, f.name) for f in dataclasses.fields(kind) if f.name != "extra_fields"
    }
    assert fields == set(schema["properties"])
    optional = {
        renamed.get(f.name, f.name)
        for f in dataclasses.fields(kind)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert not optional & set(schema.get("required", [])) - {"object", "deleted", "interval"}

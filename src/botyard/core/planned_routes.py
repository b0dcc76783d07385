"""Routes simple enough to have their parameters read by a plan made once at start-up.

FastAPI finds an endpoint's arguments on every request by walking its dependency tree,
checking each parameter's annotation again on the way (is it a sequence, a model, JSON?),
and wraps the call in telemetry and error context. For GET /v1/bots?limit=20 that was a
quarter of the request. The API's endpoints are much simpler than what that machinery
covers: path and query parameters of one value each, at most one JSON body that is a
model, dependencies that take nothing but the request (authentication with its scopes,
the Reader, a session or Writer), and either their own ``Response`` or a response model.
A route of that shape gets a :class:`Plan`, which knows its parameters in advance and
validates each one with the same pydantic field FastAPI uses.

FastAPI stays the authority: a request that the plan cannot answer exactly as FastAPI
would is passed to FastAPI's own handler, untouched. That covers a missing or invalid
parameter or body (FastAPI then raises the very error it always does), a body that is
not ``application/json``, and dependency overrides. Parameters and body are checked before
any dependency runs, so a request passed on has not been authenticated or counted yet:
nothing happens twice. A dependency with ``yield`` (a transaction the request owns) is
entered by FastAPI's own ``_solve_generator``, on the exit stack of its scope, so when and
how it closes is FastAPI's; a response model is validated and serialized by FastAPI's
``serialize_response``. A route of any other shape keeps FastAPI's
handler as it is. tests/core/test_planned_routes.py holds both handlers to the same
answers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, cast, get_args, get_origin

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _solve_generator
from fastapi.routing import APIRoute, request_response, serialize_response
from fastapi.security import SecurityScopes
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]

_MANY = (list, tuple, set, frozenset, Sequence)


@dataclass(frozen=True, slots=True)
class _Param:
    """A path or query parameter: where it is read from and how it is validated."""

    name: str
    alias: str
    field: Any  # FastAPI's ModelField: ``validate(value, values, loc=...)``
    loc: tuple[str, str]
    required: bool
    default: Any
    validate_default: bool


@dataclass(frozen=True, slots=True)
class _Dependency:
    """A dependency that takes only the request and its security scopes."""

    name: str | None
    call: Callable[..., Awaitable[Any]]
    request_param: str | None
    scopes_param: str | None
    scopes: tuple[str, ...]
    dependant: Dependant
    stack: str | None
    """A dependency with ``yield``: the request scope's key of the exit stack it closes on
    (its ``scope``: ``"function"``, after the endpoint returns; else after the response)."""

    async def solve(self, request: Request) -> Any:
        arguments: dict[str, Any] = {}
        if self.request_param is not None:
            arguments[self.request_param] = request
        if self.scopes_param is not None:
            arguments[self.scopes_param] = SecurityScopes(scopes=list(self.scopes))
        if self.stack is None:
            return await self.call(**arguments)
        return await _solve_generator(
            dependant=self.dependant,
            stack=request.scope[self.stack],
            sub_values=arguments,
            request=request,
        )


class Plan:
    """How one route's endpoint gets its arguments; see the module's docstring."""

    __slots__ = (
        "body",
        "call",
        "dependencies",
        "overrides",
        "path",
        "query",
        "request_param",
        "route",
    )

    def __init__(
        self,
        route: APIRoute,
        path: list[_Param],
        query: list[_Param],
        body: Any,
        dependencies: list[_Dependency],
    ) -> None:
        self.route = route
        self.call = cast(Callable[..., Awaitable[Any]], route.dependant.call)
        self.path = path
        self.query = query
        self.body = body  # FastAPI's ModelField of the JSON body, if the endpoint takes one
        self.dependencies = dependencies
        self.request_param = route.dependant.request_param_name
        self.overrides = route.dependency_overrides_provider

    @classmethod
    def of(cls, route: APIRoute) -> Plan | None:
        """The route's plan, or None if FastAPI has to solve it."""
        dependant = route.dependant
        call = dependant.call
        if (
            call is None
            or not inspect.iscoroutinefunction(call)
            or not (_returns_response(call) or _has_response_model(route))
            or route.max_body_size is not None
            or dependant.header_params
            or dependant.cookie_params
            or len(dependant.body_params) > 1
            or _special_params(dependant, allowed={"request_param_name"})
        ):
            return None
        body = None
        if dependant.body_params:
            body = dependant.body_params[0]
            if not _model_body(body):
                return None
        path = [_param(field, "path") for field in dependant.path_params]
        query = [_param(field, "query") for field in dependant.query_params]
        dependencies = [_dependency(sub) for sub in dependant.dependencies]
        if any(p is None for p in path + query) or any(d is None for d in dependencies):
            return None
        solved = [d for d in dependencies if d is not None]
        if len({(d.call, d.scopes) for d in solved}) != len(solved):
            return None  # FastAPI would share one result between them
        return cls(
            route,
            [p for p in path if p is not None],
            [p for p in query if p is not None],
            body,
            solved,
        )

    def handler(self, fastapi_handler: Handler) -> Handler:
        """The route's request handler: the plan, or FastAPI's where the plan stops."""

        async def handle(request: Request) -> Response:
            arguments = self._parameters(request)
            if arguments is not None and self.body is not None:
                arguments = await self._with_body(request, arguments)
            if arguments is None:
                return await fastapi_handler(request)
            await self._solve_dependencies(request, arguments)
            if self.request_param is not None:
                arguments[self.request_param] = request
            answer = await self.call(**arguments)
            if isinstance(answer, Response):
                return answer
            return await self._response(answer)

        return handle

    async def _with_body(
        self, request: Request, arguments: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The arguments with the JSON body's model, or None where FastAPI is to decide."""
        try:
            raw = await request.body()
        except Exception:  # a client gone, a body over the limit: FastAPI's own answers
            return None
        if not raw or not _is_json(request.headers.get("content-type")):
            return None
        try:
            received = await request.json()
        except ValueError:
            return None
        value, errors = self.body.validate(received, arguments, loc=("body",))
        if errors:
            return None
        arguments[self.body.name] = value
        return arguments

    async def _solve_dependencies(self, request: Request, arguments: dict[str, Any]) -> None:
        for dependency in self.dependencies:
            solved = await dependency.solve(request)
            if dependency.name is not None:
                arguments[dependency.name] = solved

    async def _response(self, answer: Any) -> Response:
        """The response model's JSON, as FastAPI writes it (validated, then serialized)."""
        route = self.route
        content = await serialize_response(
            field=route.response_field,
            response_content=answer,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            dump_json=True,
        )
        return Response(content, route.status_code or 200, media_type="application/json")

    def _parameters(self, request: Request) -> dict[str, Any] | None:
        """The path and query arguments, or None where FastAPI is to decide."""
        if self.overrides is not None and self.overrides.dependency_overrides:
            return None
        arguments: dict[str, Any] = {}
        for declared, received in (
            (self.path, request.path_params),
            (self.query, request.query_params),
        ):
            for param in declared:
                value = received.get(param.alias)
                if value is None:
                    if param.required:
                        return None
                    value = deepcopy(param.default)
                    if not param.validate_default:
                        arguments[param.name] = value
                        continue
                value, errors = param.field.validate(value, arguments, loc=param.loc)
                if errors:
                    return None
                arguments[param.name] = value
        return arguments


def plan_route(route: APIRoute) -> bool:
    """Give the route a planned handler if it has the shape for one; whether it did."""
    plan = Plan.of(route)
    if plan is None:
        return False
    route.app = request_response(plan.handler(route.get_route_handler()))
    return True


def _returns_response(call: Callable[..., Any]) -> bool:
    annotation = inspect.signature(call, eval_str=True).return_annotation
    return inspect.isclass(annotation) and issubclass(annotation, Response)


def _has_response_model(route: APIRoute) -> bool:
    """A response model written as JSON by FastAPI's default response class."""
    return (
        route.response_field is not None
        and isinstance(route.response_class, DefaultPlaceholder)
        and is_body_allowed_for_status_code(route.status_code)
    )


def _model_body(field: Any) -> bool:
    """A JSON body that is one model (not embedded under its name, not a form)."""
    info = field.field_info
    annotation = info.annotation
    return (
        type(info) is params.Body
        and not info.embed
        and inspect.isclass(annotation)
        and issubclass(annotation, BaseModel)
    )


def _is_json(content_type: str | None) -> bool:
    return (
        content_type is not None
        and content_type.split(";", 1)[0].strip().lower() == "application/json"
    )


_SPECIAL_PARAMS = (
    "request_param_name",
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
)


def _special_params(dependant: Dependant, *, allowed: set[str]) -> bool:
    """Whether the dependant takes a special parameter other than those ``allowed``."""
    return any(
        getattr(dependant, name) is not None for name in _SPECIAL_PARAMS if name not in allowed
    )


def _param(field: Any, where: str) -> _Param | None:
    """A single-valued parameter read by its one alias; None for anything else."""
    info = field.field_info
    if info.validation_alias is not None or not _single_value(info.annotation):
        return None
    return _Param(
        name=field.name,
        alias=field.alias,
        field=field,
        loc=(where, field.alias),
        required=info.is_required(),
        default=field.default,
        validate_default=bool(info.validate_default),
    )


def _single_value(annotation: Any) -> bool:
    """Not a list (read with getlist) and not a model (read field by field)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return all(_single_value(member) for member in members)
            annotation = members[0]
        else:
            break
    if annotation in _MANY or get_origin(annotation) in _MANY:
        return False
    return not (inspect.isclass(annotation) and issubclass(annotation, BaseModel))


def _dependency(sub: Dependant) -> _Dependency | None:
    call = sub.call
    closes = inspect.isasyncgenfunction(call)
    if (
        call is None
        or not (inspect.iscoroutinefunction(call) or closes)
        or sub.dependencies
        or sub.path_params
        or sub.query_params
        or sub.header_params
        or sub.cookie_params
        or sub.body_params
        or sub.concurrency is not None
        or _special_params(sub, allowed={"request_param_name", "security_scopes_param_name"})
    ):
        return None
    scopes = list(sub.parent_oauth_scopes or [])
    for scope in sub.own_oauth_scopes or []:
        if scope not in scopes:
            scopes.append(scope)
    stack = None
    if closes:
        stack = "fastapi_function_astack" if sub.scope == "function" else "fastapi_inner_astack"
    return _Dependency(
        name=sub.name,
        call=call,
        request_param=sub.request_param_name,
        scopes_param=sub.security_scopes_param_name,
        scopes=tuple(scopes),
        dependant=sub,
        stack=stack,
    )

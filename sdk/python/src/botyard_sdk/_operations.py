"""How a resource method becomes a call on either client, written once.

A resource method only says what to send (path parameters, query, body) and returns a
:class:`Call`. The ``@operation`` / ``@list_operation`` decorators look its route up in
:data:`botyard_sdk._routes.ROUTES` and turn it into a descriptor: on a resource of the sync
client it returns the parsed object, on one of the async client an awaitable of it, and list
methods return a pager that walks every page by cursor. The types follow (a ``Resource[Sync]``
method returns ``Bot``, a ``Resource[Async]`` one ``Awaitable[Bot]``), so both clients are
fully typed from one definition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

from botyard_sdk._engine import AsyncTransport, SyncTransport
from botyard_sdk._routes import ROUTES, Route
from botyard_sdk.types import Page

P = ParamSpec("P")
T = TypeVar("T")


class Sync:
    """Marks resources of :class:`botyard_sdk.Botyard`."""


class Async:
    """Marks resources of :class:`botyard_sdk.AsyncBotyard`."""


M = TypeVar("M", Sync, Async)


class Resource(Generic[M]):
    """A group of operations bound to one client's transport."""

    def __init__(self, transport: SyncTransport | AsyncTransport) -> None:
        self._transport = transport


@dataclass(frozen=True)
class Call:
    """What one method sends: path parameters, query and JSON body (None for no body)."""

    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None


class Clear:
    """The type of :data:`CLEAR`."""

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR = Clear()
"""Pass it to a PATCH argument to send null, which clears that field (such as a key's
allow-list); None leaves a field as it is."""


def given(**values: Any) -> dict[str, Any]:
    """The arguments the caller passed: None means "leave out", so PATCH changes only those,
    and CLEAR is sent as null."""
    return {
        name: None if value is CLEAR else value
        for name, value in values.items()
        if value is not None
    }


def timestamp(value: datetime | str) -> str:
    """An RFC 3339 UTC time for the API; a naive datetime is refused rather than guessed."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("give a timezone-aware datetime, such as datetime.now(UTC)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def duration(value: str | int | timedelta) -> str | int:
    """A duration as the API takes it: ``"24h"``-style text or whole seconds."""
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return value


def _query(values: Mapping[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            query[name] = timestamp(value)
        elif isinstance(value, bool):
            query[name] = "true" if value else "false"
        else:
            query[name] = str(value)
    return query


def _path(route: Route, params: Mapping[str, str]) -> str:
    for name, value in params.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty id string, got {value!r}")
    return route.path.format(**{k: quote(v, safe="") for k, v in params.items()})


class _Described(Generic[P, T]):
    """What both kinds of method know: their route, how to build a call, how to parse it."""

    def __init__(
        self, name: str, parse: Callable[[Any], T], build: Callable[Concatenate[Any, P], Call]
    ) -> None:
        self.name = name
        self.route = ROUTES[name]
        self.parse = parse
        self.build = build
        self.__doc__ = build.__doc__


class Operation(_Described[P, T]):
    """A method that answers one object (see the module docstring)."""

    @overload
    def __get__(self, obj: None, owner: type) -> Operation[P, T]: ...
    @overload
    def __get__(self, obj: Resource[Sync], owner: type) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Resource[Async], owner: type) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        transport = obj._transport
        route = self.route
        conditional = route.method == "GET"

        def arguments(*args: Any, **kwargs: Any) -> dict[str, Any]:
            call = self.build(obj, *args, **kwargs)
            return {
                "method": route.method,
                "path": _path(route, call.path),
                "params": _query(call.query),
                "body": call.body,
                "conditional": conditional,
            }

        if isinstance(transport, AsyncTransport):
            asynchronous = transport

            async def call_async(*args: Any, **kwargs: Any) -> T:
                return self.parse(await asynchronous.request(**arguments(*args, **kwargs)))

            return call_async
        synchronous = transport

        def call_sync(*args: Any, **kwargs: Any) -> T:
            return self.parse(synchronous.request(**arguments(*args, **kwargs)))

        return call_sync


def _page(parse: Callable[[Any], T], body: Any) -> Page[T]:
    return Page(
        data=tuple(parse(item) for item in body["data"]),
        has_more=bool(body.get("has_more")),
        next_cursor=body.get("next_cursor"),
    )


class Pager(Generic[T]):
    """Iterating walks every item of every page; ``first_page()`` fetches one page only.

    Nothing is fetched until it is used, and every iteration starts again from the cursor
    the list was called with."""

    def __init__(self, fetch: Callable[[str | None], Page[T]], cursor: str | None) -> None:
        self._fetch = fetch
        self._cursor = cursor

    def first_page(self) -> Page[T]:
        return self._fetch(self._cursor)

    def pages(self) -> Iterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = self._fetch(cursor)
            yield page
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.data


class AsyncPager(Generic[T]):
    """``async for`` walks every item of every page; ``await first_page()`` fetches one."""

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[Page[T]]], cursor: str | None
    ) -> None:
        self._fetch = fetch
        self._cursor = cursor

    async def first_page(self) -> Page[T]:
        return await self._fetch(self._cursor)

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = await self._fetch(cursor)
            yield page
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.data:
                yield item


class ListOperation(_Described[P, T]):
    """A method that answers a list: returns a (lazy) pager instead of one object."""

    @overload
    def __get__(self, obj: None, owner: type) -> ListOperation[P, T]: ...
    @overload
    def __get__(self, obj: Resource[Sync], owner: type) -> Callable[P, Pager[T]]: ...
    @overload
    def __get__(self, obj: Resource[Async], owner: type) -> Callable[P, AsyncPager[T]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        transport = obj._transport
        route = self.route
        parse = self.parse

        def start(*args: Any, **kwargs: Any) -> Any:
            call = self.build(obj, *args, **kwargs)
            path = _path(route, call.path)
            query = _query({k: v for k, v in call.query.items() if k != "cursor"})
            first_cursor = call.query.get("cursor")

            def params(cursor: str | None) -> dict[str, str]:
                return {**query, "cursor": cursor} if cursor else query

            if isinstance(transport, AsyncTransport):
                asynchronous = transport

                async def fetch_async(cursor: str | None) -> Page[T]:
                    body = await asynchronous.request("GET", path, params=params(cursor))
                    return _page(parse, body)

                return AsyncPager(fetch_async, first_cursor)
            synchronous = transport

            def fetch(cursor: str | None) -> Page[T]:
                return _page(parse, synchronous.request("GET", path, params=params(cursor)))

            return Pager(fetch, first_cursor)

        return start


def operation(
    name: str, parse: Callable[[Any], T]
) -> Callable[[Callable[Concatenate[Any, P], Call]], Operation[P, T]]:
    """Make a resource method the operation ``name`` of ROUTES, answering ``parse(json)``."""

    def decorate(build: Callable[Concatenate[Any, P], Call]) -> Operation[P, T]:
        return Operation(name, parse, build)

    return decorate


def list_operation(
    name: str, parse: Callable[[Any], T]
) -> Callable[[Callable[Concatenate[Any, P], Call]], ListOperation[P, T]]:
    """Make a resource method the list operation ``name`` of ROUTES, items ``parse(json)``."""

    def decorate(build: Callable[Concatenate[Any, P], Call]) -> ListOperation[P, T]:
        return ListOperation(name, parse, build)

    return decorate

"""JSON answers serialized once, for hot endpoints that build their data from trusted values.

FastAPI validates what an endpoint returns against its response model and then serializes
it; for GET /v1/me and GET /v1/rate_limit, whose every field comes from the server's own
typed state, that second pass cost more than the rest of the endpoint. Such endpoints keep
``response_model`` for the OpenAPI document (and a test that checks their bodies against
it) and return one of these instead.
"""

from collections.abc import Callable
from operator import attrgetter
from types import UnionType
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from annotated_types import BaseMetadata
from pydantic import BaseModel, PlainSerializer
from pydantic.fields import FieldInfo
from pydantic_core import to_json
from starlette.responses import Response


class PreparedJSON(Response):
    """An answer (200 unless told) whose ``content`` (str, int, float, bool, None, lists and
    dicts) is serialized as compact UTF-8 JSON like FastAPI's own responses. Format dates
    before passing them in.

    Sets what ``Response.__init__`` would (status, body, background, raw headers) directly:
    that generic path handles header mappings, charsets and bodiless statuses that never
    apply here, and cost a quarter of the endpoint."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body = to_json(content)
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]


class RowJSON:
    """A response model's JSON written straight from rows, with no model in between.

    A list of 20 bots validated every row into ``BotOut`` and then FastAPI serialized the
    models again; what a row holds is already the field's type (the columns' own types
    converted it), so only the serializers the model declares (``UTCTimestamp`` writes
    RFC 3339) need running. Each field is read from the row attribute its model reads
    (``validation_alias`` honoured; a field holding a model, from an object written the
    same way), constants (``object: Literal["bot"]``) are written as
    is, and a field this cannot write exactly as pydantic would is refused when the encoder
    is made, naming it, rather than written differently. tests/core/test_responses.py holds
    it to ``model_dump_json`` byte for byte.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self._fields: list[tuple[str, Callable[[Any], Any]]] = []
        sources: list[str] = []
        for name, info in model.model_fields.items():
            constant = _constant_of(info)
            if constant is not None:
                self._fields.append((name, _always(constant[0])))
                continue
            source = info.validation_alias if isinstance(info.validation_alias, str) else name
            sources.append(source)
            self._fields.append((name, _reader(model, name, source, info)))
        self.columns: tuple[str, ...] = tuple(sources)
        """The row attributes the model reads, to select only those."""

    def data(self, row: Any) -> dict[str, Any]:
        """The model's JSON object of one row, ready for ``to_json``."""
        return {name: read(row) for name, read in self._fields}

    def response(self, row: Any, status_code: int = 200) -> PreparedJSON:
        return PreparedJSON(self.data(row), status_code)


def _always(value: Any) -> Callable[[Any], Any]:
    return lambda _row: value


def _constant_of(info: FieldInfo) -> tuple[Any] | None:
    """``(value,)`` of a field that can only hold its default (a one-value Literal)."""
    annotation = info.annotation
    if (
        get_origin(annotation) is Literal
        and get_args(annotation) == (info.default,)
        and not info.metadata
    ):
        return (info.default,)
    return None


_AS_IS: tuple[Any, ...] = (str, int, bool)


def _reader(
    model: type[BaseModel], name: str, source: str, info: FieldInfo
) -> Callable[[Any], Any]:
    """What writes one field of a row: its attribute, through the field's serializer."""
    annotation, metadata = info.annotation, list(info.metadata)
    optional = False
    if get_origin(annotation) in (Union, UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1 and len(get_args(annotation)) == 2:
            optional, annotation = True, members[0]
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata += extra
    convert = _converter(annotation, metadata)
    if convert is _UNSUPPORTED:
        raise TypeError(f"RowJSON cannot write {model.__name__}.{name} ({info.annotation!r})")
    get = attrgetter(source)
    if convert is None:
        return get
    if optional:
        return lambda row: None if (value := get(row)) is None else convert(value)
    return lambda row: convert(get(row))


_UNSUPPORTED: Any = object()

_HARMLESS_METADATA = (BaseMetadata,)
"""Constraints (max_length, ge, ...) check input; they change nothing in the output."""


def _converter(annotation: Any, metadata: list[Any]) -> Callable[[Any], Any] | None:
    """None for values JSON takes as they are; the serializer for a declared one."""
    serializers = [m for m in metadata if isinstance(m, PlainSerializer)]
    if serializers:
        if len(serializers) > 1 or serializers[0].when_used not in ("json", "always"):
            return _UNSUPPORTED
        return cast(Callable[[Any], Any], serializers[0].func)
    if any(not isinstance(m, _HARMLESS_METADATA) for m in metadata):
        return _UNSUPPORTED
    if annotation in _AS_IS:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return RowJSON(annotation).data  # a nested object, written by its own model's rules
    if annotation is float:
        return float  # an integer stored in a REAL column is still written as 1.0
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return None
    if (
        get_origin(annotation) is list
        and get_args(annotation)
        and get_args(annotation)[0] in _AS_IS
    ):
        return None
    return _UNSUPPORTED

"""Turning JSON objects into the frozen dataclasses of :mod:`botyard_sdk.types`.

Written by hand instead of using Pydantic so that the SDK depends on httpx alone. Each field
is converted from its annotation (nested objects, tuples, datetimes, optionals); keys the
class does not know are kept in ``extra_fields`` rather than refused, so a server that grew
a field never breaks a client written before it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Self, Union


@dataclasses.dataclass(frozen=True, kw_only=True)
class APIObject:
    """An object as the API shows it. ``extra_fields`` holds what this version doesn't know."""

    __schema__: ClassVar[str]
    """The OpenAPI component this class mirrors (checked by the SDK's drift test)."""
    __renames__: ClassVar[Mapping[str, str]] = {}
    """JSON keys that are not valid Python names, to the field that holds them."""

    extra_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
        hints = _field_types(cls)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = cls.__renames__.get(key, key)
            if name in hints and name != "extra_fields":
                values[name] = _convert(hints[name], value)
            else:
                extra[key] = value
        return cls(**values, extra_fields=extra)


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """Each field's resolved annotation, worked out once per class."""
    found = _FIELD_TYPES.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELD_TYPES[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return found


def _convert(annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (kind,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _convert(kind, value)
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        return tuple(_convert(item, v) for v in value)
    if isinstance(annotation, type) and issubclass(annotation, APIObject):
        return annotation.from_api(value)
    if annotation is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value

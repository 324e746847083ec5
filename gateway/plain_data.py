"""Dataclass values as plain JSON data and back, led by the dataclasses' field types.

What the gateway shares through Redis (key states, route tables, prices, cached answers) is
stored as JSON through this module, never pickled: reading an entry builds only the dataclass the
reader asked for, from values checked against its fields' types, so whoever can write to a shared
Redis can at worst spoil an entry, not run code. An entry that does not fit reads as a miss.

Handled: None, bool, int, float, str, Decimal (as a string), datetime (ISO 8601), tuples, lists,
dicts with string keys, unions with None, `Any` (the JSON value itself) and nested dataclasses.
"""

from __future__ import annotations

import functools
import logging
import types
from dataclasses import fields, is_dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

log = logging.getLogger(__name__)

# Part of every snapshot key (gateway/models.py snapshot_shape): entries written in an older form
# are never read by this one, and the other way round.
FORMAT = "json1"


class NotPlainData(ValueError):
    """The stored value does not fit the asked type."""


def to_plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses become objects of their fields, tuples lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_plain(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: to_plain(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} is not plain data")


def from_plain(data: Any, kind: type[T] | Any) -> T:
    """The value of type `kind` that `to_plain` made `data` from; NotPlainData if it does not fit."""
    try:
        return _build(data, kind)  # type: ignore[no-any-return]
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise NotPlainData(f"stored data does not fit {kind!r}: {exc}") from exc


def from_stored(data: Any, kind: type[T] | Any) -> T | None:
    """`from_plain` for a cache entry: None for a miss, and for an entry that does not fit (the
    caller then rebuilds it from the database and stores it again)."""
    if data is None:
        return None
    try:
        return from_plain(data, kind)
    except NotPlainData:
        log.warning("a cached %r did not fit its type; rebuilt from the database", kind, exc_info=True)
        return None


def _build(data: Any, kind: Any) -> Any:
    if kind is Any:
        return data
    origin = get_origin(kind)
    if origin is Union or origin is types.UnionType:
        options = get_args(kind)
        if data is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                try:
                    return _build(data, option)
                except (NotPlainData, KeyError, TypeError, InvalidOperation):
                    continue
        raise NotPlainData(f"{data!r} fits none of {options!r}")
    if kind in (str, bool):
        return _exactly(data, kind)
    if kind is int:
        if isinstance(data, bool):
            raise NotPlainData(f"{data!r} is not an int")
        return _exactly(data, int)
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise NotPlainData(f"{data!r} is not a number")
        return float(data)
    if kind is Decimal:
        return Decimal(_exactly(data, str))
    if kind is datetime:
        try:
            return datetime.fromisoformat(_exactly(data, str))
        except ValueError as exc:
            raise NotPlainData(str(exc)) from exc
    if isinstance(kind, type) and is_dataclass(kind):
        hints = _field_types(kind)
        items = _exactly(data, dict)
        return kind(**{name: _build(items[name], hint) for name, hint in hints.items()})
    args = get_args(kind)
    if origin is tuple:
        items = _exactly(data, list)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(item, args[0]) for item in items)
        if len(items) != len(args):
            raise NotPlainData(f"{len(items)} items for {kind!r}")
        return tuple(_build(item, arg) for item, arg in zip(items, args, strict=True))
    if origin is list:
        return [_build(item, args[0]) for item in _exactly(data, list)]
    if origin is dict:
        return {_exactly(key, str): _build(item, args[1]) for key, item in _exactly(data, dict).items()}
    raise TypeError(f"{kind!r} is not a plain-data type")


def _exactly(data: Any, kind: type[T]) -> T:
    if not isinstance(data, kind):
        raise NotPlainData(f"{data!r} is not a {kind.__name__}")
    return data


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    """The init fields of a dataclass and their resolved types (annotations are strings here)."""
    hints = get_type_hints(kind)
    return {field.name: hints[field.name] for field in fields(kind) if field.init}

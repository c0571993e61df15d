"""Rows as the store hands them to its callers: frozen dataclasses (or NamedTuples), never
asyncpg's Record. Each query names its columns as the class names its fields, so a row becomes
its class by name (`Linked(**row)`), never by position."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


def one(cls: Callable[..., T], row: asyncpg.Record | None) -> T | None:
    """`row` as a `cls` (its columns as keyword arguments), or None for no row; TypeError when a
    column and a field differ."""
    return None if row is None else cls(**dict(row.items()))


def many(cls: Callable[..., T], rows: Iterable[asyncpg.Record]) -> list[T]:
    """Each of `rows` as a `cls`, in order."""
    return [cls(**dict(row.items())) for row in rows]


def values(row: Any) -> tuple[Any, ...]:
    """A dataclass row's fields, in declaration order, as a statement's arguments. Shallow:
    `dataclasses.astuple` deep-copies every value (a JSON column's dict included) on each call,
    which the statement does not need."""
    cls = type(row)
    read = _GETTERS.get(cls)
    if read is None:
        names = [f.name for f in dataclasses.fields(cls)]
        # attrgetter of one name answers the value, not a tuple of one.
        read = _GETTERS[cls] = attrgetter(*names) if len(names) > 1 else _one(names)
    answer: tuple[Any, ...] = read(row)
    return answer


def _one(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    return lambda row: tuple(getattr(row, name) for name in names)


# The fields of each dataclass read at once (one C call a row, where a getattr a field cost a
# pull request's ~20 fields a Python call each); dataclasses.fields() builds a new tuple on
# each call.
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}

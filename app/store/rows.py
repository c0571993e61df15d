"""Rows as the store hands them to its callers: frozen dataclasses (or NamedTuples), never
asyncpg's Record. Each query names its columns as the class names its fields, so a row becomes
its class by name (`Linked(**row)`), never by position."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import asyncpg

T = TypeVar("T")


def one(cls: Callable[..., T], row: asyncpg.Record | None) -> T | None:
    """`row` as a `cls` (its columns as keyword arguments), or None for no row; TypeError when a
    column and a field differ."""
    return None if row is None else cls(**dict(row.items()))


def many(cls: Callable[..., T], rows: Iterable[asyncpg.Record]) -> list[T]:
    """Each of `rows` as a `cls`, in order."""
    return [cls(**dict(row.items())) for row in rows]

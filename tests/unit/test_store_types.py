"""What the store hands its callers: its own frozen dataclasses and NamedTuples (or plain values),
never asyncpg's Record, whose fields are read by a string that no type checker sees."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import app.store

# Modules outside app/store that run SQL of their own and hand rows on.
SQL_FACING = ["app.workflows.manual", "app.reconcile", "app.redeliver", "app.queue"]


def modules() -> list[str]:
    found = [f"app.store.{m.name}" for m in pkgutil.iter_modules(app.store.__path__)]
    return sorted(found) + SQL_FACING


def public_functions(name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(name)
    return [
        (f"{name}.{attr}", value)
        for attr, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == name and not attr.startswith("_")
    ]


@pytest.mark.parametrize("name", modules())
def test_no_function_returns_an_asyncpg_record(name):
    returning = [
        (qualified, fn.__annotations__.get("return", "missing"))
        for qualified, fn in public_functions(name)
    ]
    assert [(q, r) for q, r in returning if "Record" in str(r) or r == "missing"] == []


def test_rows_become_frozen_dataclasses_by_column_name():
    from app.store.attempts import Attempt
    from app.store.rows import many

    # A dict has the one method of asyncpg.Record that rows.many uses: items().
    rows = many(Attempt, [{"attempt": 2, "error": "boom", "failed_at": None}])
    assert rows == [Attempt(attempt=2, error="boom", failed_at=None)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].attempt = 3
    with pytest.raises(TypeError):
        many(Attempt, [{"attempt": 2, "error": "boom", "failed_at": None, "extra": 1}])

"""The asyncpg pool every part of hookwise shares."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import asyncpg

from app.store.errors import UNAVAILABLE_ERRORS, StoreUnavailable
from app.store.server import describe_dsn

CONNECT_TIMEOUT = 5.0


class JsonText(str):
    """Text that is JSON already (a batch's rows on the ingest path, a payload whose exact text
    is kept): a json or jsonb parameter takes it as it is."""


async def init_connection(conn: asyncpg.Connection) -> None:
    """json and jsonb as Python values both ways: a parameter is dumped with json.dumps (a str
    too, which becomes a JSON string) unless it is JsonText; a column is loaded."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


def _encode_json(value: Any) -> str:
    return value if isinstance(value, JsonText) else json.dumps(value)


def _unreachable(dsn: str, exc: BaseException) -> StoreUnavailable:
    why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return StoreUnavailable(f"cannot connect to PostgreSQL at {describe_dsn(dsn)}: {why}")


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection of its own (migrations, LISTEN); StoreUnavailable when unreachable."""
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    except UNAVAILABLE_ERRORS as exc:
        raise _unreachable(dsn, exc) from exc
    await init_connection(conn)
    return conn


async def _reset(conn: asyncpg.Connection) -> None:
    """Nothing beyond asyncpg's own rollback of an open transaction: hookwise changes no session
    state on a pooled connection (its advisory locks and settings are the transaction's), and
    the default reset (RESET ALL, pg_advisory_unlock_all(), CLOSE ALL, UNLISTEN *) cost a round
    trip on every release, one in every ten of an event's statements."""


async def create_pool(
    dsn: str,
    *,
    size: int,
    min_size: int = 1,
    server_settings: dict[str, str] | None = None,
    on_connect: Callable[[asyncpg.Connection], None] | None = None,
    idle_seconds: float = 300.0,
) -> asyncpg.Pool:
    """A pool of up to `size` connections (`min_size` opened at once, with `server_settings`,
    each handed to `on_connect` once when it opens, closed after `idle_seconds` unused, 0:
    never); StoreUnavailable when the server cannot be reached."""

    async def init(conn: asyncpg.Connection) -> None:
        if on_connect is not None:
            on_connect(conn)
        await init_connection(conn)

    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            server_settings=server_settings,
            max_size=size,
            timeout=CONNECT_TIMEOUT,
            init=init,
            reset=_reset,
            max_inactive_connection_lifetime=idle_seconds,
        )
    except UNAVAILABLE_ERRORS as exc:
        raise _unreachable(dsn, exc) from exc
    assert pool is not None
    return pool


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection; losing the database on the way becomes StoreUnavailable."""
    try:
        async with pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
            # The pool's proxy forwards every call to its Connection (asyncpg's
            # PoolConnectionProxy); the stubs type it apart, the store takes a Connection.
            yield cast(asyncpg.Connection, conn)
    except UNAVAILABLE_ERRORS as exc:
        raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from exc


class Queries(Protocol):
    """The four query methods of asyncpg.Connection: what a store function that runs single
    statements needs, so that a Connection and PerStatement both do."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


class PerStatement:
    """The four query methods of asyncpg.Connection, each on a pooled connection of its own
    (autocommit): the shape the store's query functions take. For code that waits on remote
    services between queries (reactions, the redelivery schedule): it never holds a
    connection across the wait, nor asks for a second while holding one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with connection(self._pool) as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with connection(self._pool) as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with connection(self._pool) as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with connection(self._pool) as conn:
            return await conn.execute(query, *args)

"""Store errors, one base for the layer.

StoreError
 ├── StoreUnavailable   the database cannot be reached now: answer 503, try again later
 ├── MigrationError     the migrations on disk and in the database disagree
 └── NotMigrated        a migration on disk is not applied: a command that needs the tables stops
"""

from __future__ import annotations

import asyncio

import asyncpg


class StoreError(Exception):
    """The store failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class StoreUnavailable(StoreError):
    """The database is unreachable."""


class MigrationError(StoreError):
    """The migrations cannot be applied."""


class NotMigrated(StoreError):
    """The database lacks migrations this version of hookwise needs: run `hookwise migrate`."""


# Errors that mean "no database right now" rather than "this query is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    # asyncpg's protocol can be caught mid-state by the server cutting the session (a fast
    # shutdown): "cannot switch to state 12; another operation (2) is in progress". The
    # connection is dead all the same (MagicStack/asyncpg#1069).
    asyncpg.exceptions.InternalClientError,
)

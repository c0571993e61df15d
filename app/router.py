"""Maps (source, event, action) to handlers, as gidgethub's router does for (event, action).

Each app/handlers module has a Router of its own; the worker merges them. A handler is a plain
`async def handler(event: HandlerContext) -> None` that owns no transaction and knows no HTTP.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from app.context import Context


@dataclass(frozen=True)
class EventRow:
    """The stored event being handled (what a handler may need of integration_events)."""

    id: UUID
    source: str
    event_type: str
    action: str | None
    delivery_id: str
    hook_id: str
    attempts: int
    received_at: datetime
    # Orders events that received_at does not (a group-commit batch shares its now()): settles
    # a tie of timestamps in the guards that never let state go backwards.
    arrival: int
    serial_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HandlerContext:
    """Everything a handler gets: one object, passed in."""

    event: EventRow
    payload: Mapping[str, Any]
    # Inside the transaction that also marks the event completed: a handler's writes and the
    # completion commit together or not at all.
    conn: asyncpg.Connection
    app: Context
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False)

    @property
    def settings(self) -> Any:
        return self.app.settings


Handler = Callable[[HandlerContext], Awaitable[None]]
Key = tuple[str, str, str | None]


class Router:
    """Handlers by (source, event, action); action None means every action of the event."""

    def __init__(self, *others: Router) -> None:
        self._handlers: defaultdict[Key, list[Handler]] = defaultdict(list)
        for other in others:
            for key, handlers in other._handlers.items():
                self._handlers[key].extend(handlers)

    def add(self, handler: Handler, source: str, event: str, action: str | None = None) -> None:
        self._handlers[(source, event, action)].append(handler)

    def register(
        self, source: str, event: str, action: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator form of add()."""

        def decorate(handler: Handler) -> Handler:
            self.add(handler, source, event, action)
            return handler

        return decorate

    def handlers_for(self, source: str, event: str, action: str | None) -> list[Handler]:
        found = list(self._handlers.get((source, event, None), ()))
        if action is not None:
            found.extend(self._handlers.get((source, event, action), ()))
        return found

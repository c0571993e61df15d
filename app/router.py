"""Maps (source, event, action) to handlers, as gidgethub's router does for (event, action).

Each app/handlers module has a Router of its own; the worker merges them. A handler is a plain
`async def handler(ctx: HandlerContext) -> None` that owns no transaction and knows no HTTP.

An event whose state comes from GitHub rather than from its payload (hookwise's own backfill,
reconcile and repository listing) also has one fetcher: `async def fetch(ctx: FetchContext)`,
run before the transaction with no connection held, whose answer the handlers get as
`ctx.fetched`. So the network is asked first and the state recorded after, in one short
transaction, never under a lock.

A batch's transaction runs several events' handlers, and rows that events of different
pull requests share (their installation, their repository) would be locked in the order the
events come, opposite in two batches at once: a deadlock. So a module writing such rows also
registers a prelude, `async def take(conn, events)`, which the worker runs first in each batch's
transaction with every event of the batch: it writes or locks those rows in one global order,
and the handlers after it find them current and held. It may come with a fallback, of the same
shape, which the worker runs instead when the prelude failed under a savepoint (a payload the
store refuses) and was rolled back: what the handlers, then writing those rows in the events'
order, must hold first so that they still wait on no one in a cycle.

A module may also register a batch step for an event, `async def step(conn, events, batch)`,
which does the first statement of each of `events` (a run of a batch's events of that kind;
`batch` is all of them, for a step whose statements depend on the others) in one round trip
(asyncpg's fetchmany: each event's statement runs as it would alone, in the batch's order, but
before any handler of the batch, so a step leaves out an event whose statement depends on what
an earlier event's handlers write) and answers one value per event; its handler gets that
answer as `ctx.batched` and does the rest.
A handler run without it (ctx.batched None: alone, under a savepoint, or the step left it out)
does the whole work itself. The worker runs the steps after the preludes, for each run of
consecutive events of one kind.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from app.context import Context
    from app.settings import Settings


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
class FetchContext:
    """What a fetcher gets: the event, no connection. It may read the store with a connection of
    its own, returned before it asks the network."""

    event: EventRow
    payload: Mapping[str, Any]
    app: Context
    log: logging.LoggerAdapter[logging.Logger] = field(repr=False)

    @property
    def settings(self) -> Settings:
        return self.app.settings


@dataclass
class EventNotes:
    """What one of an event's handlers learned that a later handler of the same event may use
    instead of asking the database again. None: not known (the later handler does the full
    work)."""

    # Whether the pull_request handler created the PR or changed its head branch, title or body.
    pull_text_changed: bool | None = None
    # Whether it created the PR from the payload: no links yet, its text the payload's.
    pull_created: bool | None = None


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
    # What the event's fetcher answered (None without one).
    fetched: Any = None
    # Shared by the event's handlers, which run in order (app/handlers/__init__.py).
    notes: EventNotes = field(default_factory=EventNotes)
    # What the batch step of the event's kind answered for it (None: none ran for it).
    batched: Any = None

    @property
    def settings(self) -> Settings:
        return self.app.settings


Handler = Callable[[HandlerContext], Awaitable[None]]
Fetcher = Callable[[FetchContext], Awaitable[Any]]
# The events of a batch about to be handled: (row, payload), in arrival order.
BatchEvents = Sequence[tuple[EventRow, Mapping[str, Any]]]
Prelude = Callable[[asyncpg.Connection, BatchEvents], Awaitable[None]]
# One answer per event, in the events' order.
BatchStep = Callable[[asyncpg.Connection, BatchEvents, BatchEvents], Awaitable[Sequence[Any]]]
Key = tuple[str, str, str | None]


class Router:
    """Handlers by (source, event, action); action None means every action of the event."""

    def __init__(self, *others: Router) -> None:
        self._handlers: defaultdict[Key, list[Handler]] = defaultdict(list)
        self._fetchers: dict[tuple[str, str], Fetcher] = {}
        self._preludes: list[Prelude] = []
        self._fallbacks: list[Prelude] = []
        self._steps: dict[tuple[str, str], BatchStep] = {}
        for other in others:
            for key, handlers in other._handlers.items():
                self._handlers[key].extend(handlers)
            self._preludes.extend(other._preludes)
            self._fallbacks.extend(other._fallbacks)
            for event, fetcher in other._fetchers.items():
                self._add_fetcher(fetcher, event)
            for event, step in other._steps.items():
                self._add_step(step, event)

    def _add_fetcher(self, fetcher: Fetcher, event: tuple[str, str]) -> None:
        if event in self._fetchers:
            raise ValueError(f"two fetchers for {event}: one answer feeds every handler")
        self._fetchers[event] = fetcher

    def _add_step(self, step: BatchStep, event: tuple[str, str]) -> None:
        if event in self._steps:
            raise ValueError(f"two batch steps for {event}: one answer feeds its handler")
        self._steps[event] = step

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

    def fetcher(self, source: str, event: str) -> Callable[[Fetcher], Fetcher]:
        """Decorator: the one fetcher of (source, event), run before its handlers' transaction.

        Raises ValueError when the event has one already.
        """

        def decorate(fetcher: Fetcher) -> Fetcher:
            self._add_fetcher(fetcher, (source, event))
            return fetcher

        return decorate

    def batch_step(self, source: str, event: str) -> Callable[[BatchStep], BatchStep]:
        """Decorator: the one batch step of (source, event) (see above).

        Raises ValueError when the event has one already.
        """

        def decorate(step: BatchStep) -> BatchStep:
            self._add_step(step, (source, event))
            return step

        return decorate

    def prelude(self, prelude: Prelude, *, fallback: Prelude | None = None) -> Prelude:
        """Run `prelude` first in each batch's transaction, or `fallback` once it failed (see
        above)."""
        self._preludes.append(prelude)
        if fallback is not None:
            self._fallbacks.append(fallback)
        return prelude

    @property
    def has_preludes(self) -> bool:
        return bool(self._preludes)

    async def run_preludes(self, conn: asyncpg.Connection, events: BatchEvents) -> None:
        """Every prelude, in the order the routers were merged, with the batch's events."""
        for prelude in self._preludes:
            await prelude(conn, events)

    async def run_fallbacks(self, conn: asyncpg.Connection, events: BatchEvents) -> None:
        """Every prelude's fallback, in the order the routers were merged."""
        for fallback in self._fallbacks:
            await fallback(conn, events)

    def fetcher_for(self, source: str, event: str) -> Fetcher | None:
        return self._fetchers.get((source, event))

    def batch_step_for(self, source: str, event: str) -> BatchStep | None:
        return self._steps.get((source, event))

    def handlers_for(self, source: str, event: str, action: str | None) -> list[Handler]:
        found = list(self._handlers.get((source, event, None), ()))
        if action is not None:
            found.extend(self._handlers.get((source, event, action), ()))
        return found

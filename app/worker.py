"""The worker: claims stored events and runs their handlers, then claims the executions those
handlers started and runs them outside any transaction, procrastinate-style.

Events are claimed a batch per slot and handled in one transaction per batch; a savepoint per
event only when one of them failed (_process_batch). A notification only sets an event. The
loop waits for a notification, the poll interval or stop, then claims until nothing is due or
every slot is busy; a lost notification costs latency, not work. stop() only sets an event and
is safe twice. On stop, in-flight events get `shutdown_grace` seconds; the rest are cancelled (their
transactions roll back) and released.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app import deliveries, failures, queue
from app.clients import guard
from app.context import Context
from app.logs import Bound
from app.queue import LOCK, LOCK_ALL, Claimed
from app.reactions import runner
from app.retry import RetryLater, backoff
from app.router import BatchEvents, EventRow, FetchContext, Handler, HandlerContext, Router
from app.serial import serial_keys
from app.store import attempts, executions
from app.store.errors import UNAVAILABLE_ERRORS, StoreError
from app.store.executions import Execution
from app.store.pool import connect, connection
from app.store.statuses import EventStatus

log = logging.getLogger(__name__)

CHANNEL = "hookwise_events"
LISTENER_PING = 30.0
# HOOKWISE_WORKER_GATHER, 10 ms by default: seconds new events wait, once notified while a
# batch is in flight, for that batch to commit: then one claim takes them together (_gather).
# Each batch pays a claim, a lock, a finish and a commit whatever its size: claimed as each was
# notified, a live load of ~300 events/s ran in batches of ~1.7. A batch's transaction takes
# ~5-15 ms on a quiet machine; one still open after this long (its fetchers waiting on GitHub,
# a key's lock held) no longer holds the others back. 10 ms rather than 25 (issue 18): at
# 600 events/s on two busy cores the lag's tail was mostly this wait, batches stayed ~6-10.
# What ends the listener's connection: the database gone, or the server ending the session.
LISTENER_LOST: tuple[type[BaseException], ...] = (*UNAVAILABLE_ERRORS, asyncpg.PostgresError)


# What a prelude raises on a payload the store refuses.
PRELUDE_ERRORS = (asyncpg.PostgresError, ValueError, TypeError, KeyError)


class LeaseLost(Exception):
    """Another worker took this event over after our lease expired."""


class _StepFailed(Exception):
    """A batch step or the prelude raised in a batch run without savepoints (which event's
    statement failed is not known): roll back, run each event again under a savepoint."""


class _Raised(Exception):
    """An event's handlers raised in a batch run without savepoints: roll back, run again.
    `error` is what they raised, after `seconds`."""

    def __init__(self, attempt: Attempt, error: Exception, seconds: float) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.attempt = attempt
        self.error = error
        self.seconds = seconds


@dataclass
class Attempt:
    """One claimed event on its way through a batch: what its handlers get, once prepared."""

    claimed: Claimed
    handlers: list[Handler]
    bound: Bound
    # time.monotonic() at the claim.
    started: float
    payload: Mapping[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    fetched: Any = None
    # What its kind's batch step answered for it in this try of the transaction (router.py),
    # and its share, in seconds, of the step's time.
    batched: Any = None
    stepped: float = 0.0
    # Its outcome is committed, or handed to a connection of its own: nothing to give back.
    ended: bool = False

    @property
    def row(self) -> EventRow:
        return self.claimed.row


@dataclass(frozen=True)
class Ended:
    """How an attempt ended: completed, ignored, later (RetryLater), retry or failed."""

    status: str
    error: str | None = None
    # Seconds until the retry.
    delay: float = 0.0
    later: RetryLater | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "ignored")


def _kind(attempt: Attempt) -> tuple[str, str]:
    return attempt.row.source, attempt.row.event_type


def _label(row: EventRow) -> str:
    return f"{row.source} {row.event_type}{'.' + row.action if row.action else ''}"


# LOCK and serial_keys are named here too, for code that holds what an event holds.
__all__ = ["LOCK", "LeaseLost", "Worker", "serial_keys"]


class Worker:
    def __init__(self, ctx: Context, router: Router, *, concurrency: int | None = None) -> None:
        self.ctx = ctx
        self.router = router
        self.concurrency = concurrency or ctx.settings.worker.concurrency
        self.batch = ctx.settings.worker.batch
        self.execution_concurrency = ctx.settings.worker.execution_concurrency
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        # Set when a batch committed or a task ended since the round began (or on stop): its
        # slot is free, and the events after its own may be due.
        self._freed = asyncio.Event()
        # The subset running batches whose transaction has not committed (or failed) yet.
        self._unsettled: set[asyncio.Task[None]] = set()
        # Set once LISTEN is on, or once the first attempt failed: then polling has to do.
        self._listening = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # The subset running executions: they have slots of their own.
        self._executions: set[asyncio.Task[None]] = set()
        self._rounds = 0
        self._idle_waiters: list[tuple[int, asyncio.Future[None]]] = []
        # Wakes the loop when the earliest event given back for later is due (_claim_at); the
        # times (loop.time()) the others given back are due, a heap.
        self._due: asyncio.TimerHandle | None = None
        self._dues: list[float] = []

    def stop(self) -> None:
        if self._due is not None:
            self._due.cancel()
        self._stop.set()
        self._wake.set()
        self._freed.set()

    async def idle(self, *, wake: bool = False) -> None:
        """Return once a round of claims that began after this call found nothing due and
        nothing is in flight: everything committed before the call has been handled, or given
        back for later (RetryLater: a rate limit's reset, a busy key's second), to be claimed
        again when due. Whoever needs those done too waits for their rows.

        With wake=False it does not wake the worker, so a test can see that a NOTIFY did.
        """
        waiter = asyncio.get_running_loop().create_future()
        self._idle_waiters.append((self._rounds, waiter))
        if wake:
            self._wake.set()
        await waiter

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="hookwise-listener")
        listener.add_done_callback(self._listener_ended)
        # LISTEN before the first claim: what is committed after that claim wakes us.
        listening = asyncio.ensure_future(self._listening.wait())
        await asyncio.wait([listener, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        await self._open_connections()
        log.info(
            "worker started, %d event slots, %d execution slots",
            self.concurrency,
            self.execution_concurrency,
            extra={"action": "worker_started"},
        )
        try:
            await self._loop()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await self._shutdown()
            log.info("worker stopped", extra={"action": "worker_stopped"})

    async def _open_connections(self) -> None:
        """Open the connections the event slots and the claim use, and have each learn the
        types the worker's statements carry, before the first claim: a connection opened
        for an event cost its batch ~10 ms, and asyncpg's first look-up of the array and
        enum types, once per connection, 20-55 ms more (the bench's first half second).
        The pool keeps them while they are used. Best effort: a failure here is the first
        claim's to report."""
        wanted = min(self.concurrency + 1, self.ctx.pool.get_max_size())
        try:
            async with contextlib.AsyncExitStack() as held:
                conns = [
                    await held.enter_async_context(connection(self.ctx.pool)) for _ in range(wanted)
                ]
                await asyncio.gather(*(_learn_types(conn) for conn in conns))
        except (StoreError, asyncpg.PostgresError) as exc:
            log.warning("cannot open the worker's connections: %s", exc)

    async def _loop(self) -> None:
        settings = self.ctx.settings.worker
        while not self._stop.is_set():
            self._wake.clear()
            self._freed.clear()
            self._rounds += 1
            await self._claim_while_free()
            # A wake-up during the round (an event finished and was put back in the queue while
            # the claim's snapshot still saw it taken, or a NOTIFY) means the round proves nothing.
            if not self._tasks and not self._wake.is_set():
                self._signal_idle(self._rounds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=settings.poll_interval)
            await self._gather()

    async def _gather(self) -> None:
        """Woken while a batch is in flight and none has committed since the round began (a
        NOTIFY, most likely): wait for one to commit, HOOKWISE_WORKER_GATHER seconds at most,
        so that the events stored meanwhile are claimed together. With nothing in flight, or a
        batch just committed, the claim goes at once."""
        gather = self.ctx.settings.worker.gather
        if self._unsettled and not self._freed.is_set() and gather > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), timeout=gather)

    async def _claim_while_free(self) -> None:
        """Claim events while an event slot is free and the last claim took a full batch (so
        more may be due); an execution only when a claim found fewer events than a batch.
        Events first: the recorded state never waits behind a reaction, and under a backlog
        the reactions wait for the state (they run on the same cores)."""
        lease = self.ctx.settings.worker.lease_seconds
        while not self._stop.is_set():
            events_free = len(self._tasks) - len(self._executions) < self.concurrency
            executions_free = len(self._executions) < self.execution_concurrency
            if not events_free:
                return
            claimed: list[Claimed] = []
            execution = None
            try:
                async with connection(self.ctx.pool) as conn:
                    # A slot's batch in one statement.
                    claimed = await queue.claim_many(conn, lease=lease, limit=self.batch)
                    full = self._full(claimed)
                    if not full and executions_free:
                        execution = await executions.claim(conn, lease=lease)
            except StoreError as exc:
                log.warning("cannot claim: %s", exc, extra={"action": "claim_failed"})
                return
            if claimed:
                batch = self._start(self._process_batch(claimed), f"events-{claimed[0].row.id}")
                self._unsettled.add(batch)
            if execution is not None:
                task = self._start(self._execute(execution), f"execution-{execution.id}")
                self._executions.add(task)
            elif not full:
                return

    def _full(self, claimed: list[Claimed]) -> bool:
        """Whether a claim stopped at its limit (events or bytes) rather than for want of due
        events: only then can another claim find more. A short claim took all that was due
        (bar rows another transaction held at that moment, which a later wake-up finds), so
        claiming again at once would cost a statement to find nothing. The bodies are counted
        inflated, which is never less than what the claim counts (stored)."""
        return len(claimed) >= self.batch or sum(len(c.body) for c in claimed) >= queue.BATCH_BYTES

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _listener_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("listener died, stopping", exc_info=task.exception())
            self.stop()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._executions.discard(task)
        self._unsettled.discard(task)
        self._freed.set()
        self._wake.set()

    def _settled(self) -> None:
        """The running batch's transaction committed."""
        task = asyncio.current_task()
        if task is not None:
            self._unsettled.discard(task)
        self._freed.set()
        self._wake.set()

    def _signal_idle(self, round_: int) -> None:
        waiting = []
        for registered, waiter in self._idle_waiters:
            if round_ > registered and not waiter.done():
                waiter.set_result(None)
            elif not waiter.done():
                waiting.append((registered, waiter))
        self._idle_waiters = waiting

    async def _process_batch(self, batch: list[Claimed]) -> None:
        """A claimed batch (no two of its events share a serial key): the fetchers first, with
        no connection held; then one transaction in which the events' handlers run, one
        statement finishes them and one commit ends it all. When an event's handlers raise,
        the batch runs again with a savepoint per event, so the failing one rolls back alone
        and is retried or dead-lettered in the transaction that commits the others
        (_handle_batch). An event whose key another transaction holds runs after the
        commit, alone, waiting for its lock, so one held pull request never holds the batch."""
        attempts = [self._begin(claimed) for claimed in batch]
        try:
            ready = await self._prepare_all(attempts)
            if not ready:
                return
            try:
                ended, deferred = await self._handle_batch(ready)
            except Exception as exc:
                # The transaction is gone (the database, most likely): each event's attempt
                # failed with it, as it would have alone.
                for attempt in ready:
                    self._timed(attempt, time.monotonic() - attempt.started)
                    await self._retry(attempt, exc)
                return
            # The events after these in their pull requests may be due now, and those stored
            # meanwhile are claimed together (_gather), while this task still runs the
            # deferred ones.
            self._settled()
            for attempt, outcome in ended:
                self._report(attempt, outcome)
            for attempt in deferred:
                await self._alone(attempt)
        except asyncio.CancelledError:
            await asyncio.gather(*(self._release(a.claimed) for a in attempts if not a.ended))
            raise

    def _begin(self, claimed: Claimed) -> Attempt:
        row = claimed.row
        bound = Bound(
            log,
            {
                "delivery_id": row.delivery_id,
                "event_id": str(row.id),
                "source": row.source,
                "event": row.event_type,
                "event_action": row.action,
                "attempt": row.attempts,
            },
        )
        handlers = self.router.handlers_for(row.source, row.event_type, row.action)
        # At DEBUG: the line an event's outcome writes (_report) carries all this line does,
        # and at INFO this one cost a worker as much as its handlers' Python (issue 18).
        bound.debug(
            "handling %s delivery=%s attempt=%d",
            _label(row),
            row.delivery_id,
            row.attempts,
            extra={"action": "event_handling"},
        )
        return Attempt(claimed, handlers, bound, started=time.monotonic())

    async def _prepare_all(self, attempts: list[Attempt]) -> list[Attempt]:
        """The attempts whose preparation (_prepare) went well, in their order. Those with a
        fetcher are prepared at once (their network calls overlap); the others one after the
        other, in this task: a task apiece cost more than decoding their payloads (issue 18)."""
        fetching = [a for a in attempts if a.handlers and self._fetches(a)]
        fetched = await asyncio.gather(*(self._prepare(a) for a in fetching))
        outcomes = {id(a): ok for a, ok in zip(fetching, fetched, strict=True)}
        ready = []
        for attempt in attempts:
            ok = outcomes.get(id(attempt))
            if ok is None:
                ok = await self._prepare(attempt)
            if ok:
                ready.append(attempt)
        return ready

    def _fetches(self, attempt: Attempt) -> bool:
        row = attempt.row
        return self.router.fetcher_for(row.source, row.event_type) is not None

    async def _prepare(self, attempt: Attempt) -> bool:
        """Read the payload, run the event's fetcher and work out its keys; False when that
        failed (the event is then retried or rescheduled already)."""
        row = attempt.row
        try:
            if attempt.handlers:
                attempt.payload = deliveries.payload_of(attempt.claimed.body)
                # Only now is the payload read (an ignored event's never is): the installation
                # joins the fields of this attempt's log lines from here on.
                installation = attempt.payload.get("installation")
                if isinstance(installation, dict) and installation.get("id") is not None:
                    attempt.bound.fields["installation"] = installation["id"]
                fetcher = self.router.fetcher_for(row.source, row.event_type)
                if fetcher is not None:
                    # The network first, with no connection held; its errors retry or
                    # reschedule the event as a handler's would.
                    context = FetchContext(row, attempt.payload, self.ctx, attempt.bound)
                    attempt.fetched = await fetcher(context)
            # Stored at ingest; worked out here for events stored before there were stored keys.
            attempt.keys = row.serial_keys or serial_keys(
                row.source, row.event_type, attempt.payload
            )
        except RetryLater as later:
            self._timed(attempt, time.monotonic() - attempt.started)
            self._report(attempt, Ended("later", later=later))
            await self._release(attempt.claimed, at=later.retry_at)
            return False
        except Exception as exc:
            self._timed(attempt, time.monotonic() - attempt.started)
            await self._retry(attempt, exc)
            return False
        return True

    async def _handle_batch(
        self, ready: list[Attempt]
    ) -> tuple[list[tuple[Attempt, Ended]], list[Attempt]]:
        """The batch's transaction: (each handled event and how it ended, the events deferred
        because another transaction holds their row or a key of theirs).

        First without savepoints (two round trips per event saved). When an event's handlers
        raise, that transaction is rolled back whole, nothing of it committed, and the batch
        runs again with a savepoint per event: the one that raised is not run again, its
        failure is recorded once, in the transaction that commits the others."""
        try:
            return await self._batch_transaction(ready, raised=None)
        except _Raised as raised:
            return await self._batch_transaction(ready, raised=raised)
        except _StepFailed as failed:
            log.warning(
                "batch step failed, each event runs again under a savepoint: %s",
                failed,
                extra={"action": "batch_step_failed"},
            )
            return await self._batch_transaction(ready, raised=None, savepoints=True)

    async def _batch_transaction(
        self, ready: list[Attempt], *, raised: _Raised | None, savepoints: bool = False
    ) -> tuple[list[tuple[Attempt, Ended]], list[Attempt]]:
        """One try of the batch's transaction. With `raised` None and no `savepoints`, the
        batch steps first (_steps) and no savepoints: raises _Raised, the transaction rolled
        back, at the first event whose handlers raise (_StepFailed when a step raised). Else a
        savepoint per event, no steps, and the event that raised before (if any) is recorded
        as failed."""
        bare = raised is None and not savepoints
        for attempt in ready:
            attempt.batched, attempt.stepped = None, 0.0
        ended: list[tuple[Attempt, Ended]] = []
        # Seconds each event's handlers took: observed once the transaction committed, so a
        # try rolled back is not counted.
        took: list[float] = []
        async with connection(self.ctx.pool) as conn, conn.transaction():
            owned, busy = await queue.own_and_lock(conn, [(a.row, a.keys) for a in ready])
            mine = [a for a in ready if a.row.id in owned]
            # Not locked now: taken over after its lease, or its row held for a moment by
            # another transaction (a redelivery of it being stored). Alone, after the commit,
            # its finish waits for the row and tells the two apart.
            unowned = [a for a in ready if a.row.id not in owned]
            deferred = unowned + [a for a in mine if busy.intersection(a.keys)]
            runnable = [a for a in mine if not busy.intersection(a.keys)]
            await self._prelude(conn, runnable, bare=bare)
            if bare:
                await self._steps(conn, runnable)
            for attempt in runnable:
                began = time.monotonic() - attempt.stepped
                if bare:
                    outcome = await self._run_bare(conn, attempt)
                elif raised is not None and raised.attempt is attempt:
                    outcome = await self._failed(conn, attempt, raised.error)
                    began -= raised.seconds
                else:
                    outcome = await self._run(conn, attempt)
                took.append(time.monotonic() - began)
                ended.append((attempt, outcome))
            await queue.finish_many(
                conn, [(a.row, EventStatus(outcome.status)) for a, outcome in ended if outcome.done]
            )
        # Committed: from here on nothing of these is to be given back on a shutdown.
        for (attempt, _), seconds in zip(ended, took, strict=True):
            attempt.ended = True
            self._timed(attempt, seconds)
        return ended, deferred

    async def _prelude(self, conn: asyncpg.Connection, batch: list[Attempt], *, bare: bool) -> None:
        """The rows the batch's events share, written or locked in one global order before any
        event's handlers run (app/router.py), so two batches cannot wait on each other's.
        `bare` (the try without savepoints): raises _StepFailed when it fails (a payload the
        store refuses), the savepoint it would need costing two round trips a batch. Else under
        a savepoint: when it fails, it is rolled back, the preludes' fallbacks run instead, and
        the handlers write those rows themselves, each event failing alone if it must."""
        events = [(a.row, a.payload) for a in batch if a.handlers]
        if not events or not self.router.has_preludes:
            return
        if bare:
            try:
                await self.router.run_preludes(conn, events)
            except PRELUDE_ERRORS as exc:
                raise _StepFailed(f"prelude: {type(exc).__name__}: {exc}") from exc
            return
        try:
            async with conn.transaction():
                await self.router.run_preludes(conn, events)
        except PRELUDE_ERRORS as exc:
            self.ctx.metrics.prelude_failures.inc()
            log.warning(
                "batch prelude failed, handlers go on without it: %s: %s",
                type(exc).__name__,
                exc,
                extra={"action": "prelude_failed"},
            )
            # Not under the savepoint: what fails here fails the batch's transaction (the
            # handlers would otherwise write shared rows late without what the order needs).
            await self.router.run_fallbacks(conn, events)

    async def _steps(self, conn: asyncpg.Connection, batch: list[Attempt]) -> None:
        """Each batch step (app/router.py) over each run of consecutive events of its kind,
        in the batch's order; their answers into the attempts. Raises _StepFailed."""
        events = [(a.row, a.payload) for a in batch if a.handlers]
        run: list[Attempt] = []
        for attempt in [*batch, None]:
            if attempt is not None and not attempt.handlers:
                continue
            if run and (attempt is None or _kind(attempt) != _kind(run[0])):
                await self._step(conn, run, events)
                run = []
            if attempt is not None and self.router.batch_step_for(*_kind(attempt)):
                run.append(attempt)

    async def _step(self, conn: asyncpg.Connection, run: list[Attempt], batch: BatchEvents) -> None:
        step = self.router.batch_step_for(*_kind(run[0]))
        assert step is not None
        began = time.monotonic()
        try:
            with guard.holding("the event's transaction"):
                answers = await step(conn, [(a.row, a.payload) for a in run], batch)
        except Exception as exc:
            raise _StepFailed(f"{type(exc).__name__}: {exc}") from exc
        share = (time.monotonic() - began) / len(run)
        for attempt, answer in zip(run, answers, strict=True):
            attempt.batched, attempt.stepped = answer, share

    async def _alone(self, attempt: Attempt) -> None:
        """One event in a transaction of its own, waiting for its keys' locks, then running the
        preludes as a batch of one does: without them, its handlers would take shared rows
        outside the order every batch keeps (app/handlers/github_payload.take_shared)."""
        try:
            async with connection(self.ctx.pool) as conn, conn.transaction():
                if attempt.keys:
                    await conn.execute(LOCK_ALL, attempt.keys)
                await self._prelude(conn, [attempt], bare=False)
                began = time.monotonic()
                outcome = await self._run(conn, attempt)
                took = time.monotonic() - began
                if outcome.done and not await queue.finish(
                    conn, attempt.row, EventStatus(outcome.status)
                ):
                    raise LeaseLost
        except LeaseLost:
            attempt.ended = True
            self._lost(attempt)
            return
        except Exception as exc:
            self._timed(attempt, time.monotonic() - attempt.started)
            await self._retry(attempt, exc)
            return
        attempt.ended = True
        self._timed(attempt, took)
        self._report(attempt, outcome)

    async def _run_bare(self, conn: asyncpg.Connection, attempt: Attempt) -> Ended:
        """The event's handlers inside the caller's transaction, with no savepoint; raises
        _Raised with what they raised, for the caller to roll the transaction back."""
        began = time.monotonic()
        try:
            await self._handlers(conn, attempt)
        except Exception as exc:
            raise _Raised(attempt, exc, time.monotonic() - began) from exc
        return Ended("completed" if attempt.handlers else "ignored")

    async def _run(self, conn: asyncpg.Connection, attempt: Attempt) -> Ended:
        """The event's handlers under a savepoint, inside the caller's transaction. A failure
        rolls back to the savepoint and is recorded in the same transaction (_failed)."""
        try:
            async with conn.transaction():
                await self._handlers(conn, attempt)
        except Exception as exc:
            return await self._failed(conn, attempt, exc)
        return Ended("completed" if attempt.handlers else "ignored")

    async def _failed(self, conn: asyncpg.Connection, attempt: Attempt, exc: Exception) -> Ended:
        """Record in the caller's transaction what the event's handlers raised: rescheduled
        (RetryLater, the attempt given back), retried with backoff, or dead-lettered. Raises
        LeaseLost when the row is another worker's by now: only an event run alone can meet
        that (a batch holds its rows' locks), and _alone reports it so."""
        if isinstance(exc, RetryLater):
            if not await queue.release(conn, attempt.row, at=exc.retry_at):
                raise LeaseLost
            return Ended("later", later=exc)
        ended = await self._schedule(conn, attempt, exc, handler=True)
        if ended is None:
            raise LeaseLost
        return ended

    async def _schedule(
        self, conn: asyncpg.Connection, attempt: Attempt, exc: Exception, *, handler: bool
    ) -> Ended | None:
        """The attempt's failure recorded: retried after a backoff, or dead-lettered after
        HOOKWISE_MAX_ATTEMPTS, at once when `exc` is permanent (app/failures.py; `handler`: it
        came from the event's handlers). None when the row is another worker's by now."""
        row, settings = attempt.row, self.ctx.settings.worker
        error = failures.reason(exc)
        delay = backoff(
            row.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
        )
        permanent = failures.permanent(exc, handler=handler)
        limit = row.attempts if permanent else settings.max_attempts
        status = await queue.retry(conn, row, error, max_attempts=limit, delay=delay)
        if status is None:
            return None
        # last_error keeps only the latest failure; the admin page shows every one.
        await attempts.record(conn, row.id, attempt=row.attempts, error=error)
        return Ended("failed" if status == "failed" else "retry", error=error, delay=delay)

    async def _handlers(self, conn: asyncpg.Connection, attempt: Attempt) -> None:
        event = HandlerContext(
            attempt.row,
            attempt.payload,
            conn,
            self.ctx,
            attempt.bound,
            attempt.fetched,
            batched=attempt.batched,
        )
        with guard.holding("the event's transaction"):
            for handler in attempt.handlers:
                await handler(event)

    def _report(self, attempt: Attempt, outcome: Ended) -> None:
        """Metrics and the log line of an attempt whose outcome is committed."""
        row, bound = attempt.row, attempt.bound
        label = _label(row)
        if outcome.done:
            self._outcome(bound, row, outcome.status)
            bound.info(
                "%s %s delivery=%s in %.1f ms",
                outcome.status,
                label,
                row.delivery_id,
                bound.fields.get("duration_ms", 0.0),
                extra={"action": f"event_{outcome.status}"},
            )
        elif outcome.status == "later":
            self._outcome(bound, row, "later")
            if outcome.later is not None:
                self._claim_at(outcome.later.retry_at)
            bound.warning(
                "%s delivery=%s: %s",
                label,
                row.delivery_id,
                outcome.later,
                extra={"action": "event_later"},
            )
        elif outcome.status == "failed":
            self._outcome(bound, row, "dead_letter")
            bound.error(
                "dead letter: delivery=%s after %d attempts: %s",
                row.delivery_id,
                row.attempts,
                outcome.error,
                extra={"action": "event_failed"},
            )
        else:
            self._outcome(bound, row, "retry")
            bound.warning(
                "retry in %.1fs: delivery=%s attempt %d: %s",
                outcome.delay,
                row.delivery_id,
                row.attempts,
                outcome.error,
                extra={"action": "event_retry"},
            )

    def _claim_at(self, when: datetime) -> None:
        """Claim again once an event given back for later (RetryLater) is due, rather than at
        the next NOTIFY or poll (HOOKWISE_POLL_INTERVAL may be far longer than the wait: a busy
        key's second, a rate limit's reset). One timer, for the earliest such time; when it
        fires, the next."""
        loop = asyncio.get_running_loop()
        heapq.heappush(self._dues, loop.time() + max((when - datetime.now(UTC)).total_seconds(), 0))
        self._arm()

    def _arm(self) -> None:
        if not self._dues or self._stop.is_set():
            return
        earliest = self._dues[0]
        if self._due is not None:
            if self._due.when() <= earliest:
                return
            self._due.cancel()
        self._due = asyncio.get_running_loop().call_at(earliest, self._due_now)

    def _due_now(self) -> None:
        self._due = None
        now = asyncio.get_running_loop().time()
        while self._dues and self._dues[0] <= now:
            heapq.heappop(self._dues)
        self._wake.set()
        self._arm()

    def _lost(self, attempt: Attempt) -> None:
        self._timed(attempt, time.monotonic() - attempt.started)
        self._outcome(attempt.bound, attempt.row, "lease_lost")
        attempt.bound.warning(
            "lease lost on %s delivery=%s",
            _label(attempt.row),
            attempt.row.delivery_id,
            extra={"action": "event_lease_lost"},
        )

    async def _execute(self, execution: Execution) -> None:
        """One reaction, outside any transaction (app/reactions/runner.py)."""
        bound = Bound(
            log,
            {
                "execution_id": str(execution.id),
                "workflow": execution.workflow,
                "subject": execution.subject_label,
                "attempt": execution.attempts,
            },
        )
        bound.info(
            "running %s %s",
            execution.workflow,
            execution.execution_id,
            extra={"action": "execution_running"},
        )
        started = time.monotonic()
        try:
            outcome = await runner.execute(self.ctx, execution, bound)
        except StoreError as exc:
            # The lease expires and the execution is claimed again.
            bound.error("cannot record %s: %s", execution.execution_id, exc)
            outcome = "store_error"
        self.ctx.metrics.executions.inc(workflow=execution.workflow, outcome=outcome)
        bound.fields["outcome"] = outcome
        bound.info(
            "%s %s %s in %.1f ms",
            outcome,
            execution.workflow,
            execution.execution_id,
            (time.monotonic() - started) * 1000,
            extra={"action": f"execution_{outcome}"},
        )

    def _timed(self, attempt: Attempt, seconds: float) -> None:
        """The attempt's handlers' duration, into the histogram and its later log lines."""
        attempt.bound.fields["duration_ms"] = round(seconds * 1000, 1)
        if attempt.handlers:
            row = attempt.row
            self.ctx.metrics.handler_duration.observe(
                seconds, source=row.source, event=row.event_type
            )

    def _outcome(self, bound: Bound, row: EventRow, outcome: str) -> None:
        bound.fields["outcome"] = outcome
        metrics = self.ctx.metrics
        metrics.events_processed.inc(source=row.source, event=row.event_type, outcome=outcome)
        if outcome == "retry":
            metrics.retries.inc(source=row.source, event=row.event_type)
        elif outcome == "dead_letter":
            metrics.dead_letters.inc(source=row.source, event=row.event_type)

    async def _retry(self, attempt: Attempt, exc: Exception) -> None:
        """Record a failure that ended the attempt's transaction, on a connection of its own."""
        attempt.ended = True
        try:
            async with connection(self.ctx.pool) as conn, conn.transaction():
                ended = await self._schedule(conn, attempt, exc, handler=False)
        except StoreError as store_exc:
            # The lease will expire and the event will be claimed again.
            attempt.bound.error(
                "cannot record failure of %s: %s", attempt.row.delivery_id, store_exc
            )
            return
        if ended is None:
            self._lost(attempt)
            return
        self._report(attempt, ended)

    async def _release(self, claimed: Claimed, *, at: datetime | None = None) -> None:
        try:
            async with connection(self.ctx.pool) as conn:
                await asyncio.shield(queue.release(conn, claimed.row, at=at))
        except (StoreError, asyncio.CancelledError):
            pass  # the lease expires and another worker takes it

    async def _shutdown(self) -> None:
        if not self._tasks:
            return
        grace = self.ctx.settings.worker.shutdown_grace
        log.info("waiting up to %.0fs for %d events", grace, len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("released %d unfinished events", len(pending))

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; reconnect when it drops, ping it when quiet."""
        delay = 0.5
        while True:
            try:
                conn = await connect(self.ctx.dsn)
            except StoreError as exc:
                log.warning("listener cannot connect: %s", exc, extra={"action": "listen_failed"})
                self._listening.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.ctx.settings.worker.poll_interval)
                continue
            delay = 0.5
            try:
                await self._listen_on(conn)
            except LISTENER_LOST as exc:
                log.warning("listener lost its connection: %s", type(exc).__name__)
            finally:
                await _close_quietly(conn)
            # Whatever was notified while we were away is due now.
            self._wake.set()

    async def _listen_on(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(CHANNEL, lambda *_args: self._wake.set())
        self._listening.set()
        self._wake.set()
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), timeout=LISTENER_PING)
            except TimeoutError:
                await conn.execute("SELECT 1", timeout=LISTENER_PING)


# The enum types of the schema hookwise runs in, as casts of NULL.
ENUMS = """
SELECT coalesce(string_agg(format('NULL::%I.%I', n.nspname, t.typname), ', '), 'NULL')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND n.nspname = current_schema()
"""
# Array types the queue's and the handlers' statements take as parameters.
ARRAYS = "NULL::int4[], NULL::int8[], NULL::uuid[], NULL::text[]"


async def _learn_types(conn: asyncpg.Connection) -> None:
    """Have asyncpg look up, once, the codecs of the types our statements use: it caches
    them per connection, and looks up whatever a statement needs the first time it sees it."""
    enums = await conn.fetchval(ENUMS)
    await conn.fetch(f"SELECT {ARRAYS}, {enums}")


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except LISTENER_LOST:
        conn.terminate()

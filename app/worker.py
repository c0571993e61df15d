"""The worker: claims stored events and runs their handlers, then claims the executions those
handlers started and runs them outside any transaction, procrastinate-style.

A notification only sets an event. The loop waits for a notification, the poll interval or
stop, then claims until nothing is due or every slot is busy; a lost notification costs
latency, not work. stop() only sets an event and is safe twice. On stop, in-flight events get
`shutdown_grace` seconds; the rest are cancelled (their transactions roll back) and released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import asyncpg

from app import deliveries, queue
from app.clients import guard
from app.context import Context
from app.logs import Bound
from app.queue import LOCK, LOCK_ALL, Claimed
from app.reactions import runner
from app.retry import RetryLater, backoff
from app.router import EventRow, FetchContext, HandlerContext, Router
from app.serial import serial_keys
from app.store import attempts, executions
from app.store.errors import UNAVAILABLE_ERRORS, StoreError
from app.store.executions import Execution
from app.store.pool import connect, connection
from app.store.statuses import EventStatus

log = logging.getLogger(__name__)

CHANNEL = "hookwise_events"
LISTENER_PING = 30.0
# What ends the listener's connection: the database gone, or the server ending the session.
LISTENER_LOST: tuple[type[BaseException], ...] = (*UNAVAILABLE_ERRORS, asyncpg.PostgresError)


class LeaseLost(Exception):
    """Another worker took this event over after our lease expired."""


# LOCK and serial_keys are named here too, for code that holds what an event holds.
__all__ = ["LOCK", "LeaseLost", "Worker", "serial_keys"]


class Worker:
    def __init__(self, ctx: Context, router: Router, *, concurrency: int | None = None) -> None:
        self.ctx = ctx
        self.router = router
        self.concurrency = concurrency or ctx.settings.worker.concurrency
        self.execution_concurrency = ctx.settings.worker.execution_concurrency
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        # Set once LISTEN is on, or once the first attempt failed: then polling has to do.
        self._listening = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # The subset running executions: they have slots of their own.
        self._executions: set[asyncio.Task[None]] = set()
        self._rounds = 0
        self._idle_waiters: list[tuple[int, asyncio.Future[None]]] = []

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def idle(self, *, wake: bool = False) -> None:
        """Return once a round of claims that began after this call found nothing due and
        nothing is in flight: everything committed before the call has been handled.

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

    async def _loop(self) -> None:
        settings = self.ctx.settings.worker
        while not self._stop.is_set():
            self._wake.clear()
            self._rounds += 1
            await self._claim_while_free()
            # A wake-up during the round (an event finished and was put back in the queue while
            # the claim's snapshot still saw it taken, or a NOTIFY) means the round proves nothing.
            if not self._tasks and not self._wake.is_set():
                self._signal_idle(self._rounds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=settings.poll_interval)

    async def _claim_while_free(self) -> None:
        """Claim events while an event slot is free; an execution only when a free slot found
        no event due. Events first: the recorded state never waits behind a reaction, and
        under a backlog the reactions wait for the state (they run on the same cores)."""
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
                    # A slot's worth of events in one statement.
                    claimed = await queue.claim_many(
                        conn,
                        lease=lease,
                        limit=self.concurrency - (len(self._tasks) - len(self._executions)),
                    )
                    if not claimed and executions_free:
                        execution = await executions.claim(conn, lease=lease)
            except StoreError as exc:
                log.warning("cannot claim: %s", exc, extra={"action": "claim_failed"})
                return
            for event in claimed:
                self._start(self._process(event), f"event-{event.row.id}")
            if execution is not None:
                task = self._start(self._execute(execution), f"execution-{execution.id}")
                self._executions.add(task)
            elif not claimed:
                return

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
        self._wake.set()

    def _signal_idle(self, round_: int) -> None:
        waiting = []
        for registered, waiter in self._idle_waiters:
            if round_ > registered and not waiter.done():
                waiter.set_result(None)
            elif not waiter.done():
                waiting.append((registered, waiter))
        self._idle_waiters = waiting

    async def _process(self, claimed: Claimed) -> None:
        row = claimed.row
        label = f"{row.source} {row.event_type}{'.' + row.action if row.action else ''}"
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
        bound.info("handling %s delivery=%s attempt=%d", label, row.delivery_id, row.attempts)
        started = time.monotonic()
        try:
            await self._handle(claimed, handlers, bound)
        except asyncio.CancelledError:
            await self._release(claimed)
            raise
        except LeaseLost:
            self._timed(bound, row, handlers, started)
            self._outcome(bound, row, "lease_lost")
            bound.warning("lease lost on %s delivery=%s", label, row.delivery_id)
            return
        except RetryLater as later:
            self._timed(bound, row, handlers, started)
            self._outcome(bound, row, "later")
            bound.warning(
                "%s delivery=%s: %s", label, row.delivery_id, later, extra={"action": "event_later"}
            )
            await self._release(claimed, at=later.retry_at)
            return
        except Exception as exc:
            self._timed(bound, row, handlers, started)
            await self._retry(claimed, exc, bound)
            return
        seconds = self._timed(bound, row, handlers, started)
        outcome = EventStatus.COMPLETED if handlers else EventStatus.IGNORED
        self._outcome(bound, row, outcome)
        bound.info(
            "%s %s delivery=%s in %.1f ms",
            outcome,
            label,
            row.delivery_id,
            seconds * 1000,
            extra={"action": f"event_{outcome}"},
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
        bound.info("running %s %s", execution.workflow, execution.execution_id)
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

    def _timed(self, bound: Bound, row: EventRow, handlers: list[Any], started: float) -> float:
        """The attempt's duration, into the histogram and the fields of its later log lines."""
        seconds = time.monotonic() - started
        bound.fields["duration_ms"] = round(seconds * 1000, 1)
        if handlers:
            self.ctx.metrics.handler_duration.observe(
                seconds, source=row.source, event=row.event_type
            )
        return seconds

    def _outcome(self, bound: Bound, row: EventRow, outcome: str) -> None:
        bound.fields["outcome"] = outcome
        metrics = self.ctx.metrics
        metrics.events_processed.inc(source=row.source, event=row.event_type, outcome=outcome)
        if outcome == "retry":
            metrics.retries.inc(source=row.source, event=row.event_type)
        elif outcome == "dead_letter":
            metrics.dead_letters.inc(source=row.source, event=row.event_type)

    async def _handle(self, claimed: Claimed, handlers: list[Any], bound: Bound) -> None:
        row = claimed.row
        payload = deliveries.payload_of(claimed.body) if handlers else {}
        # Only now is the payload read (an ignored event's never is): the installation joins the
        # fields of this attempt's log lines from here on.
        installation = payload.get("installation") if isinstance(payload, dict) else None
        if isinstance(installation, dict) and installation.get("id") is not None:
            bound.fields["installation"] = installation["id"]
        fetched = None
        fetcher = self.router.fetcher_for(row.source, row.event_type) if handlers else None
        if fetcher is not None:
            # The network first, with no connection held; its errors retry or reschedule the
            # event as a handler's would.
            fetched = await fetcher(FetchContext(row, payload, self.ctx, bound))
        # Stored at ingest; worked out here for events stored before there were stored keys.
        keys = row.serial_keys or serial_keys(row.source, row.event_type, payload)
        async with connection(self.ctx.pool) as conn, conn.transaction():
            if keys:
                await conn.execute(LOCK_ALL, keys)
            event = HandlerContext(row, payload, conn, self.ctx, bound, fetched)
            with guard.holding("the event's transaction"):
                for handler in handlers:
                    await handler(event)
            outcome = EventStatus.COMPLETED if handlers else EventStatus.IGNORED
            if not await queue.finish(conn, row, outcome):
                raise LeaseLost

    async def _retry(self, claimed: Claimed, exc: Exception, bound: Bound) -> None:
        settings = self.ctx.settings.worker
        row = claimed.row
        delay = backoff(
            row.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
        )
        error = f"{type(exc).__name__}: {exc}"
        try:
            async with connection(self.ctx.pool) as conn, conn.transaction():
                status = await queue.retry(
                    conn, row, error, max_attempts=settings.max_attempts, delay=delay
                )
                # last_error keeps only the latest failure; the admin page shows every one.
                if status is not None:
                    await attempts.record(conn, row.id, attempt=row.attempts, error=error)
        except StoreError as store_exc:
            # The lease will expire and the event will be claimed again.
            bound.error("cannot record failure of %s: %s", row.delivery_id, store_exc)
            return
        self._outcome(bound, row, "dead_letter" if status == EventStatus.FAILED else "retry")
        if status == EventStatus.FAILED:
            bound.error(
                "dead letter: delivery=%s after %d attempts: %s",
                row.delivery_id,
                row.attempts,
                error,
                extra={"action": "event_failed"},
            )
        else:
            bound.warning(
                "retry in %.1fs: delivery=%s attempt %d: %s",
                delay,
                row.delivery_id,
                row.attempts,
                error,
                extra={"action": "event_retry"},
            )

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


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except LISTENER_LOST:
        conn.terminate()

"""Group commit: deliveries that arrive together share one INSERT and one commit.

A request hands its delivery over and waits for its own row's fate, so nothing is acknowledged
before it is committed; but a burst of deliveries costs PostgreSQL one transaction and one WAL
flush instead of one each. While a batch is being written the next one gathers, so the batch
size follows the load by itself: one row when traffic is light, dozens under a burst.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from app.deliveries import Delivery
from app.store import events
from app.store.errors import StoreError, StoreUnavailable
from app.store.events import Stored
from app.store.pool import connection

log = logging.getLogger(__name__)

MAX_BATCH = 64
# Bodies are sent to PostgreSQL as one bytea per batch (app/store/events.py); this keeps it far
# from the 1 GB a value may hold, and the batch's memory in check.
MAX_BATCH_BYTES = 32 << 20


@dataclass(frozen=True)
class _Waiting:
    incoming: events.Incoming
    answer: asyncio.Future[Stored]


# Writers storing deliveries at once, each on a pooled connection while it writes a batch.
WRITERS = 2


class GroupCommit:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        writers: int = WRITERS,
        max_batch: int = MAX_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._pool = pool
        self._writers = writers
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._waiting: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def store(self, integration_id: int, delivery: Delivery) -> Stored:
        """Store one delivery with whatever else is waiting; returns once it is committed."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._write(), name=f"group-commit-{n}")
                for n in range(self._writers)
            ]
        # Deflated here, not in the writer: a large body then never holds up a whole batch.
        incoming = await events.incoming(integration_id, delivery)
        answer: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(incoming, answer))
        self._arrived.set()
        return await answer

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        left, self._waiting = self._waiting, []
        self._fail(left, StoreUnavailable("shutting down"))

    def _take(self, count: int) -> list[_Waiting]:
        """The next batch: up to `count` deliveries and MAX_BATCH_BYTES of bodies (at least one
        delivery, whatever its size)."""
        size = 0
        for taken, waiting in enumerate(self._waiting[:count]):
            size += len(waiting.incoming.body.data)
            if taken and size > self._max_bytes:
                count = taken
                break
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        if not self._waiting:
            self._arrived.clear()
        return batch

    async def _write(self) -> None:
        while True:
            await self._arrived.wait()
            batch = self._take(self._max_batch)
            if not batch:
                continue
            try:
                async with connection(self._pool) as conn:
                    # The connection is kept while deliveries keep coming: giving it back to
                    # the pool costs a reset round trip, as much again as the INSERT's.
                    while batch:
                        await self._commit(conn, batch)
                        batch = self._take(self._max_batch)
            except asyncio.CancelledError:
                self._fail(batch, StoreUnavailable("shutting down"))
                raise
            except StoreError as exc:
                self._fail(batch, exc)
            except Exception as exc:
                log.exception("storing a batch of %d deliveries failed", len(batch))
                self._fail(batch, exc)

    async def _commit(self, conn: asyncpg.Connection, batch: list[_Waiting]) -> None:
        try:
            stored = await events.store_many(conn, [w.incoming for w in batch])
        except asyncpg.DataError:
            if len(batch) == 1:
                raise
            # A delivery PostgreSQL refuses must not fail the others that shared its batch.
            for waiting in batch:
                await self._commit_alone(conn, waiting)
            return
        for waiting, result in zip(batch, stored, strict=True):
            if not waiting.answer.done():  # the client may have gone
                waiting.answer.set_result(result)

    async def _commit_alone(self, conn: asyncpg.Connection, waiting: _Waiting) -> None:
        try:
            await self._commit(conn, [waiting])
        except asyncpg.DataError as exc:
            delivery = waiting.incoming.delivery
            log.error(
                "delivery %s (%s) could not be stored: %s",
                delivery.delivery_id,
                delivery.source,
                exc,
                extra={"action": "store_refused", "delivery_id": delivery.delivery_id},
            )
            self._fail([waiting], exc)

    @staticmethod
    def _fail(batch: list[_Waiting], exc: BaseException) -> None:
        for waiting in batch:
            if not waiting.answer.done():
                waiting.answer.set_exception(exc)

"""`github_request_leases`: one GitHub request at a time per installation, across processes.

GitHub asks integrators to make requests for one installation serially, not concurrently, and
to space writes (POST, PATCH, PUT, DELETE) at least a second apart ("Best practices for using
the REST API", docs.github.com). An asyncio lock does that inside one process only; the row of
an installation does it for every process that shares the database.

The lease is claimed in one statement and released in another, each its own transaction: no
lock and no transaction is held while GitHub answers (the house rule), so a slow GitHub never
holds a database connection or blocks anything but that installation's next request. A
session-level advisory lock would do the waiting for us, but it is a lock held across the
request and pins a connection to it. A holder that dies is outlived by `leased_until`, which
a live holder renews while its request goes on.

Runs on a pool of its own (app/context.py): a request is often made by a caller holding a
connection of the main pool, and waiting there for a second could exhaust it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

# Taken when free (or expired), and for a write only once the last write's interval has passed.
# The outer SELECT sees the row as it was before this statement: what to wait for if not taken.
CLAIM = """
WITH claimed AS (
    INSERT INTO github_request_leases AS l (installation_id, holder, leased_until)
    VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (installation_id) DO UPDATE
        SET holder = EXCLUDED.holder, leased_until = EXCLUDED.leased_until
        WHERE (l.leased_until IS NULL OR l.leased_until <= now())
          AND (NOT $4 OR l.next_write_at <= now())
    RETURNING 1
)
SELECT EXISTS (SELECT FROM claimed) AS claimed,
       (SELECT greatest(extract(epoch FROM next_write_at - now()), 0)::float8
        FROM github_request_leases WHERE installation_id = $1) AS write_wait
"""

# While a request goes on (retries, a slow answer), its lease is kept alive.
RENEW = """
UPDATE github_request_leases SET leased_until = now() + make_interval(secs => $3)
WHERE installation_id = $1 AND holder = $2
"""

# `$3`: seconds from now before the next write may go; NULL when this holder wrote nothing.
RELEASE = """
UPDATE github_request_leases
SET holder = NULL, leased_until = NULL,
    next_write_at = CASE WHEN $3::float8 IS NULL THEN next_write_at
                         ELSE now() + make_interval(secs => $3) END
WHERE installation_id = $1 AND holder = $2
"""

# While another process holds the lease: ask again after this long, doubling up to MAX_POLL.
FIRST_POLL = 0.01
MAX_POLL = 0.2
# A lease is kept this long after a request, for this process's next one to the installation
# (commands make them back to back: two statements each would double their time), but no
# longer than STICKY_FOR since it was claimed, so other processes get their turn.
GRACE = 0.05
STICKY_FOR = 1.0
# The App itself (JWT requests: /app, tokens, deliveries) has a lease of its own.
APP = 0


@dataclass(eq=False)
class _Held:
    holder: uuid.UUID
    claimed_at: float
    renewing: asyncio.Task[None]
    # Claimed for a write: the other processes' last write was far enough back.
    for_writes: bool
    last_write: float | None = None
    release: asyncio.Task[None] | None = None


class RequestLeases:
    """Leases of `pool`'s database; `ttl`: seconds a lease outlives a holder that died (a live
    holder renews it every third of that); `write_interval`: seconds between two writes.

    Within a process the caller makes one request per installation at a time (app/clients/
    github.py's Throttle): `hold` is never entered twice at once for one installation."""

    def __init__(self, pool: asyncpg.Pool, *, ttl: float, write_interval: float) -> None:
        self._pool = pool
        self._ttl = ttl
        self._write_interval = write_interval
        self._held: dict[int, _Held] = {}

    @asynccontextmanager
    async def hold(self, installation_id: int | None, *, write: bool) -> AsyncIterator[None]:
        """Wait for the installation's lease (None: the App's), hold it for one request."""
        key = APP if installation_id is None else installation_id
        held = self._held.get(key)
        if held is not None and held.release is not None:
            held.release.cancel()  # still ours: its grace had not run out
            held.release = None
        if held is not None and write and not held.for_writes:
            # Claimed for reads: another process may have written less than an interval ago.
            await asyncio.shield(self._release(key, held))
            held = None
        if held is None:
            held = await self._claim(key, write=write)
            self._held[key] = held
        try:
            yield
        finally:
            if write:
                held.last_write = time.monotonic()
            if time.monotonic() - held.claimed_at >= STICKY_FOR:
                await asyncio.shield(self._release(key, held))
            else:
                held.release = asyncio.create_task(self._release(key, held, after=GRACE))

    async def close(self) -> None:
        """Release every lease this process holds (at shutdown)."""
        for key, held in list(self._held.items()):
            if held.release is not None:
                held.release.cancel()
            await self._release(key, held)

    async def _claim(self, key: int, *, write: bool) -> _Held:
        holder = uuid.uuid4()
        poll = FIRST_POLL
        while True:
            row = await self._pool.fetchrow(CLAIM, key, holder, self._ttl, write)
            assert row is not None  # CLAIM always answers one row
            if row["claimed"]:
                break
            write_wait = float(row["write_wait"] or 0.0) if write else 0.0
            await asyncio.sleep(max(poll, write_wait))
            poll = min(poll * 2, MAX_POLL)
        renewing = asyncio.create_task(self._renew(key, holder), name=f"lease:{key}")
        return _Held(holder, time.monotonic(), renewing, for_writes=write)

    async def _release(self, key: int, held: _Held, *, after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
        if self._held.get(key) is held:
            del self._held[key]
        held.renewing.cancel()
        wait = None
        if held.last_write is not None:
            wait = max(self._write_interval - (time.monotonic() - held.last_write), 0.0)
        # If the database is gone meanwhile, the lease ends with its ttl.
        with contextlib.suppress(asyncpg.PostgresError, OSError):
            await self._pool.execute(RELEASE, key, held.holder, wait)

    async def _renew(self, key: int, holder: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._pool.execute(RENEW, key, holder, self._ttl)
            except (asyncpg.PostgresError, OSError):
                continue  # the lease may lapse; the request goes on

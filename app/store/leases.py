"""`github_request_leases`: one GitHub request at a time per installation, across processes.

GitHub asks integrators to make requests for one installation serially, not concurrently, and
to space writes (POST, PATCH, PUT, DELETE) at least a second apart ("Best practices for using
the REST API", docs.github.com). An asyncio lock does that inside one process only; the row of
an installation does it for every process that shares the database.

The lease is claimed in one statement and released in another, each its own transaction: no
lock and no transaction is held while GitHub answers (the house rule), so a slow GitHub never
holds a database connection or blocks anything but that installation's next request. A
session-level advisory lock would do the waiting for us, but it is a lock held across the
request and pins a connection to it. A holder that dies is outlived by `leased_until`.

Runs on a pool of its own (app/context.py): a request is often made by a caller holding a
connection of the main pool, and waiting there for a second could exhaust it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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

RELEASE = """
UPDATE github_request_leases
SET holder = NULL, leased_until = NULL,
    next_write_at = CASE WHEN $3 THEN now() + make_interval(secs => $4) ELSE next_write_at END
WHERE installation_id = $1 AND holder = $2
"""

# While another process holds the lease: ask again after this long, doubling up to MAX_POLL.
FIRST_POLL = 0.01
MAX_POLL = 0.2
# The App itself (JWT requests: /app, tokens, deliveries) has a lease of its own.
APP = 0


class RequestLeases:
    """Leases of `pool`'s database; `ttl`: seconds a lease outlives a holder that died (longer
    than any request with its retries); `write_interval`: seconds between two writes."""

    def __init__(self, pool: asyncpg.Pool, *, ttl: float, write_interval: float) -> None:
        self._pool = pool
        self._ttl = ttl
        self._write_interval = write_interval

    @asynccontextmanager
    async def hold(self, installation_id: int | None, *, write: bool) -> AsyncIterator[None]:
        """Wait for the installation's lease (None: the App's), hold it, release it."""
        key = APP if installation_id is None else installation_id
        holder = uuid.uuid4()
        poll = FIRST_POLL
        while True:
            row = await self._pool.fetchrow(CLAIM, key, holder, self._ttl, write)
            if row["claimed"]:
                break
            write_wait = float(row["write_wait"] or 0.0) if write else 0.0
            await asyncio.sleep(max(poll, write_wait))
            poll = min(poll * 2, MAX_POLL)
        try:
            yield
        finally:
            # Released even when the caller is cancelled; if the database is gone meanwhile,
            # the lease ends with its ttl.
            await asyncio.shield(
                self._pool.execute(RELEASE, key, holder, write, self._write_interval)
            )

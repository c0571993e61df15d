"""Is the pool big enough for what this process runs? Checked before anything starts.

Nothing in hookwise takes a second pooled connection while holding one, so a pool as large as
the number of things that may each hold one at once never deadlocks: the group-commit writers
(serve), the worker's event slots (each event holds one for its transaction), and for serve one
spare, so health checks and the admin answer while every writer and slot is busy. The
worker's LISTEN connection is its own, outside the pool. Executions are not counted: each takes
a connection for one statement at a time and never holds one across a remote call, so at worst
it waits a moment for one.
"""

from __future__ import annotations

from app.store.group_commit import WRITERS


class PoolTooSmall(Exception):
    """One line naming the settings to change."""


def check(*, pool: int, web: bool, slots: int) -> None:
    """Raise PoolTooSmall when `pool` connections cannot serve `slots` worker slots (0: no
    worker) and, with `web`, the group-commit writers and a spare."""
    parts = []
    if web:
        parts.append(f"{WRITERS} group-commit writers")
    if slots:
        parts.append(f"HOOKWISE_WORKER_CONCURRENCY={slots} worker slots")
    if web:
        parts.append("1 spare for the web app")
    needed = (WRITERS + 1 if web else 0) + slots
    if pool < needed:
        raise PoolTooSmall(
            f"HOOKWISE_DB_POOL_SIZE={pool} is too small for {' + '.join(parts)}: "
            f"set HOOKWISE_DB_POOL_SIZE to at least {needed} or lower HOOKWISE_WORKER_CONCURRENCY"
        )

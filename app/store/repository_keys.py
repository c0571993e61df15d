"""Advisory locks named by repositories: what a transaction holds before it touches a repository's
row, so that a row it creates late (after its batch's prelude, in its events' order) can never
be one another transaction is writing (app/handlers/github_payload.take_shared says why).

A repository's key is its GitHub id split into two 32-bit halves, in PostgreSQL's two-int4 key
space, which never overlaps the single-bigint one that the serial keys (app/queue.LOCK) and
every other advisory lock of hookwise use (migrations, the reconcile and workflow schedules):
no hash, so no two repositories share a key, and ordering the GitHub ids orders the keys.
Nothing else in hookwise may take two-int4 advisory locks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import asyncpg

# The two int4 halves of the bigint GitHub id `{id}`: injective over bigint.
KEY = "(({id}) >> 32)::int4, ((({id}) & 4294967295) - 2147483648)::int4"
SHARED, EXCLUSIVE, INSTALLATION = 0, 1, 2

# A batch's repository keys and bare installation rows in one round trip: one stream of rows in
# the order given ($1 what each is, $2 its id), each key taken and each installation not stored
# inserted as its row passes. The lock calls are volatile, so PostgreSQL evaluates them after
# the ORDER BY, row by row; OFFSET 0 keeps the outer filter from being pushed below them. The
# keys come first in the stream: all are held before the first installation row is written.
TAKE = f"""
INSERT INTO installations (id)
SELECT t.id FROM (
    SELECT s.kind, s.id,
           CASE s.kind WHEN {SHARED} THEN pg_advisory_xact_lock_shared({KEY.format(id="s.id")})
                       WHEN {EXCLUSIVE} THEN pg_advisory_xact_lock({KEY.format(id="s.id")})
           END AS taken
    FROM unnest($1::int4[], $2::int8[]) WITH ORDINALITY AS s (kind, id, n)
    ORDER BY s.n OFFSET 0
) AS t
WHERE t.kind = {INSTALLATION} AND NOT EXISTS (SELECT FROM installations i WHERE i.id = t.id)
ON CONFLICT (id) DO NOTHING
"""

# Each key taken exclusively now unless another transaction holds it: the ids of those held.
TRY_TAKE = f"""
SELECT s.id FROM unnest($1::int8[]) AS s (id)
WHERE NOT pg_try_advisory_xact_lock({KEY.format(id="s.id")})
"""


async def take(
    conn: asyncpg.Connection, repositories: Mapping[int, bool], installation_ids: Collection[int]
) -> None:
    """Hold each repository's key until the transaction ends (`repositories`: GitHub id ->
    exclusive, else shared), waiting for them in GitHub id order; then insert a bare row for
    each installation id not stored, in id order (as installations.ensure does one): one
    round trip, none when there is nothing to take. Ids must be bigints (ValueError from
    asyncpg otherwise)."""
    if not repositories and not installation_ids:
        return
    ids = sorted(repositories)
    kinds = [EXCLUSIVE if repositories[github_id] else SHARED for github_id in ids]
    installations = sorted(set(installation_ids))
    await conn.execute(TAKE, [*kinds, *[INSTALLATION] * len(installations)], [*ids, *installations])


async def try_take(conn: asyncpg.Connection, github_ids: Iterable[int]) -> list[int]:
    """Take each repository's key exclusively unless another transaction holds it, without
    waiting (so in any order, at any point of a transaction); the ids whose key another holds."""
    return [int(r["id"]) for r in await conn.fetch(TRY_TAKE, sorted(set(github_ids)))]

"""Ask GitHub to redeliver what never reached us: hookwise down, a 503, a network cut.

GitHub keeps every delivery attempt of the App's webhook for 3 days but retries none by itself.
We page `GET /app/hook/deliveries` newest first down to `since`, group attempts by GUID, and for
each GUID that no attempt delivered and that we have not stored, ask for one redelivery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from gidgethub import GitHubException

from app.clients.github import GitHubApp, RateLimited
from app.store import events
from app.store.pool import PerStatement

log = logging.getLogger(__name__)

RETENTION = timedelta(days=3)
HIGH_WATER = "redeliver_checked_until"
# A delivery's record can appear a little after its delivered_at; look back this much further.
OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Candidate:
    guid: str
    delivery_id: int
    event: str
    action: str | None
    first_failure: datetime
    last_status: str


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    result: str
    ok: bool


def _when(summary: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(summary["delivered_at"])


def undelivered(summaries: list[Mapping[str, Any]]) -> list[Candidate]:
    """GUIDs none of whose attempts got a 2xx, oldest first, each with its newest attempt."""
    by_guid: defaultdict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for summary in summaries:
        by_guid[summary["guid"]].append(summary)
    found = []
    for guid, attempts in by_guid.items():
        if any(200 <= int(a.get("status_code") or 0) < 300 for a in attempts):
            continue
        attempts.sort(key=_when)
        newest = attempts[-1]
        found.append(
            Candidate(
                guid=guid,
                delivery_id=int(newest["id"]),
                event=newest["event"],
                action=newest.get("action"),
                first_failure=_when(attempts[0]),
                last_status=str(newest.get("status") or newest.get("status_code")),
            )
        )
    return sorted(found, key=lambda c: c.first_failure)


def no_log(exc: Exception) -> str:
    """Why GitHub's delivery log could not be read (what recent_deliveries raised), in one
    line: the CLI's and the admin page's words."""
    if isinstance(exc, RateLimited):
        return f"GitHub asks to wait until {exc.until:%Y-%m-%d %H:%M:%S} UTC (a rate limit)"
    said = str(exc)
    return f"GitHub did not give its delivery log: {type(exc).__name__}{': ' * bool(said)}{said}"


async def recent_deliveries(github: GitHubApp, since: datetime) -> list[Mapping[str, Any]]:
    """Delivery attempts since `since`, paging newest first until older ones appear."""
    found = []
    async for summary in github.app_api().getiter("/app/hook/deliveries?per_page=100"):
        if _when(summary) < since:
            break
        found.append(summary)
    return found


async def redeliver(
    github: GitHubApp,
    conn: asyncpg.Connection | PerStatement,
    *,
    since: datetime,
    dry_run: bool = False,
    limit: int | None = None,
) -> list[Outcome]:
    summaries = await recent_deliveries(github, since)
    candidates = undelivered(summaries)
    stored = await events.stored_deliveries(conn, "github", [c.guid for c in candidates])
    wanted = [c for c in candidates if c.guid not in stored][:limit]
    outcomes = []
    for candidate in wanted:
        outcomes.append(await _ask(github, candidate, dry_run=dry_run))
    return outcomes


async def _ask(github: GitHubApp, candidate: Candidate, *, dry_run: bool) -> Outcome:
    if dry_run:
        return Outcome(candidate, "would redeliver", ok=True)
    try:
        await github.app_api().post(
            "/app/hook/deliveries/{delivery_id}/attempts",
            {"delivery_id": candidate.delivery_id},
            data=b"",
        )
    except (GitHubException, httpx.HTTPError, RateLimited) as exc:
        log.warning("redelivery of %s failed: %s", candidate.guid, exc)
        return Outcome(candidate, f"failed: {exc or type(exc).__name__}", ok=False)
    log.info("asked GitHub to redeliver %s (%s)", candidate.guid, candidate.event)
    return Outcome(candidate, "redelivery requested", ok=True)


# Two workers may share a schedule; one of them runs it at a time, by a lease in the GitHub
# integration's config rather than a lock: no lock or transaction is held while GitHub answers.
CLAIM_RUN = """
UPDATE integrations
SET config = jsonb_set(config, '{redeliver_running_until}',
                       to_jsonb(now() + make_interval(secs => $1)))
WHERE name = 'github'
  AND coalesce((config ->> 'redeliver_running_until')::timestamptz, '-infinity') < now()
RETURNING coalesce(config ->> 'redeliver_checked_until', '')
"""
END_RUN = """
UPDATE integrations
SET config = jsonb_set(config - 'redeliver_running_until', '{redeliver_checked_until}',
                       to_jsonb($1::text))
WHERE name = 'github'
"""
RUN_LEASE = 600.0


async def scheduled_run(github: GitHubApp, pool: asyncpg.Pool) -> list[Outcome] | None:
    """One run of the schedule, from the stored high-water mark (or GitHub's 3 days) to now;
    None when another process is running it. Each query takes a pooled connection for itself:
    none is held while GitHub answers."""
    db = PerStatement(pool)
    mark = await db.fetchval(CLAIM_RUN, RUN_LEASE)
    if mark is None:
        return None
    now = datetime.now(UTC)
    since = now - RETENTION
    if mark:
        since = max(since, datetime.fromisoformat(mark) - OVERLAP)
    outcomes = await redeliver(github, db, since=since)
    # What we could not ask for this time is looked at again next time.
    unasked = [o.candidate.first_failure for o in outcomes if not o.ok]
    await db.execute(END_RUN, min([now, *unasked]).isoformat())
    return outcomes

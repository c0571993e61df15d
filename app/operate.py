"""What an operator asks of the queue: replay stored events, see where the queue stands."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from app import redeliver as redelivery
from app.context import open_context
from app.settings import Settings
from app.store import events
from app.store.pool import connect, connection

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime) -> datetime:
    """'6h', '30m', '2d' ago, or an ISO 8601 time (UTC when it names no zone)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        return now - timedelta(**{UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration like 6h nor an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


async def replay(dsn: str, selection: events.Selection, *, dry_run: bool) -> str:
    conn = await connect(dsn)
    try:
        rows = await events.replay(conn, selection, dry_run=dry_run)
    finally:
        await conn.close()
    verb = "would re-queue" if dry_run else "re-queued"
    listing = table(
        ["id", "source", "event", "delivery", "was", "received"],
        [
            (
                r["id"],
                r["source"],
                r["event_type"] + (f".{r['action']}" if r["action"] else ""),
                r["delivery_id"],
                r["status"],
                r["received_at"].isoformat(timespec="seconds"),
            )
            for r in rows
        ],
    )
    return f"{listing}\n{verb} {len(rows)} event{'s' if len(rows) != 1 else ''}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(timedelta(seconds=round(seconds)))


async def status(dsn: str) -> str:
    conn = await connect(dsn)
    try:
        state = await events.queue_status(conn)
    finally:
        await conn.close()
    order = ["pending", "processing", "completed", "ignored", "failed"]
    counts = table(["status", "events"], [(s, state.counts.get(s, 0)) for s in order])
    parts = [counts, f"\noldest pending: {_age(state.oldest_pending_seconds)}"]
    if state.failures:
        parts.append("\n" + table(["failures", "error"], [(n, e) for e, n in state.failures]))
    return "\n".join(parts)


async def redeliver(
    settings: Settings, dsn: str, since: datetime, dry_run: bool, limit: int | None
) -> tuple[str, bool]:
    """The table of what was (or would be) redelivered, and whether every request went through."""
    async with open_context(settings, dsn) as ctx, connection(ctx.pool) as conn:
        assert ctx.github is not None
        outcomes = await redelivery.redeliver(
            ctx.github, conn, since=since, dry_run=dry_run, limit=limit
        )
    listing = table(
        ["guid", "event", "action", "first failure", "result"],
        [
            (
                o.candidate.guid,
                o.candidate.event,
                o.candidate.action,
                o.candidate.first_failure.isoformat(timespec="seconds"),
                o.result,
            )
            for o in outcomes
        ],
    )
    summary = f"{len(outcomes)} undelivered deliveries since {since.isoformat(timespec='seconds')}"
    return f"{listing}\n{summary}", all(o.ok for o in outcomes)


def parse_ids(values: Sequence[str]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        raise ValueError("--id takes event ids (UUIDs) as `hookwise status` lists them") from None

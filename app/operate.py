"""What an operator asks of the queue: replay stored events, see where the queue stands, prune
what is done."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app import reconcile as reconciling
from app import redeliver as redelivery
from app.context import open_context
from app.settings import Settings
from app.store import events, executions, repositories, statuses
from app.store.pool import connect, connection
from app.store.statuses import EventStatus, ExecutionStatus
from app.workflows import manual

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime) -> datetime:
    """'6h', '30m', '2d' ago, or an ISO 8601 time (UTC when it names no zone).

    Raises ValueError, with the reason, for anything else and for a duration reaching back
    before the year 1 or an ISO time whose UTC date is before the year 1 or after 9999.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match:
        try:
            return now - timedelta(**{UNITS[match[2]]: float(match[1])})
        except OverflowError:
            raise ValueError(f"{text!r} is too far back: no date is that long ago") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration like 6h nor an ISO time") from None
    try:
        # In UTC, as the store is sent it: a time at the calendar's edge with an offset
        # (0001-01-01T00:00+14:00) has no UTC date, and asyncpg refuses it with a DataError.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is beyond the calendar once in UTC") from None


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


@dataclass(frozen=True)
class Replay:
    """What `hookwise replay` did: its listing, then the ids it names that no stored event
    has and those left alone because a worker is handling them now, each in the order given."""

    listing: str
    missing: list[uuid.UUID]
    held: list[uuid.UUID]


async def replay(dsn: str, selection: events.Selection, *, dry_run: bool) -> Replay:
    """Re-queue the selected events (or list them, `dry_run`); see Replay."""
    conn = await connect(dsn)
    try:
        rows = await events.replay(conn, selection, dry_run=dry_run)
        stored = await events.known(conn, selection.ids) if selection.ids else set()
    finally:
        await conn.close()
    named = list(dict.fromkeys(selection.ids or []))
    replayed = {r.id for r in rows}
    missing = [i for i in named if i not in stored]
    held = [i for i in named if i in stored and i not in replayed]
    verb = "would re-queue" if dry_run else "re-queued"
    listing = table(
        ["id", "source", "event", "delivery", "was", "received"],
        [
            (
                r.id,
                r.source,
                r.event_type + (f".{r.action}" if r.action else ""),
                r.delivery_id,
                r.status,
                r.received_at.isoformat(timespec="seconds"),
            )
            for r in rows
        ],
    )
    summary = f"{listing}\n{verb} {len(rows)} event{'s' if len(rows) != 1 else ''}"
    return Replay(summary, missing, held)


async def prune(dsn: str, before: datetime, *, dry_run: bool) -> str:
    """Old finished events, then old finished executions with their logs, and execution logs
    older than the same age (seed 001's cleanup_old_execution_logs())."""
    days = max((datetime.now(UTC) - before).days, 0)
    conn = await connect(dsn)
    try:
        if dry_run:
            count, verb = await events.prunable(conn, before), "would delete"
            runs = await executions.prunable(conn, before)
            logs = await executions.old_logs(conn, days)
        else:
            count, verb = await events.prune(conn, before), "deleted"
            runs, logs = await executions.prune(conn, before, days=days)
    finally:
        await conn.close()
    when = before.isoformat(timespec="seconds")
    return (
        f"{verb} {count} completed or ignored event{'s' if count != 1 else ''}"
        f" received before {when}\n"
        f"{verb} {runs} finished execution{'s' if runs != 1 else ''} (with their logs)"
        f" finished before {when}, and {logs} older execution log line{'s' if logs != 1 else ''}"
    )


async def list_executions(dsn: str, *, status: ExecutionStatus | None, pull: str | None) -> str:
    """The latest executions (100 at most), newest first."""
    conn = await connect(dsn)
    try:
        rows = await executions.listed(conn, status=status, pull=pull)
    finally:
        await conn.close()
    listing = table(
        ["id", "workflow", "pull request", "status", "attempts", "started", "due", "why"],
        [
            (
                r.id,
                r.workflow.removeprefix("hookwise."),
                r.subject_label,
                r.status,
                r.attempts,
                r.started_at.isoformat(timespec="seconds"),
                _due(r.status, r.run_after),
                _one_line(r.error_message),
            )
            for r in rows
        ],
    )
    return f"{listing}\n{len(rows)} execution{'s' if len(rows) != 1 else ''}"


def _due(status: str, run_after: datetime | None) -> str:
    """When a pending execution runs (a rate limit's wait can be hours); `-` for any other,
    whose run_after is history."""
    if status != ExecutionStatus.PENDING or run_after is None:
        return "-"
    return run_after.astimezone(UTC).isoformat(timespec="seconds")


async def run_workflow(dsn: str, name: str, *, pull: str | None, repo: str | None) -> str:
    """Start a declared workflow by hand on a pull request ('owner/repo#N') or a repository;
    raises manual.CannotRun with the reason."""
    conn = await connect(dsn)
    try:
        who = "hookwise run"
        if pull is not None:
            started = await manual.run_on_pull(conn, name, pull, asked_by=who)
        else:
            assert repo is not None
            started = await manual.run_on_repo(conn, name, repo, asked_by=who)
    finally:
        await conn.close()
    return f"started {started.workflow} on {started.label}: execution {started.id}"


async def replay_execution(dsn: str, execution_id: uuid.UUID, *, by: str) -> executions.Replay:
    """Put one finished execution back in the queue, `by` (where the operator asked) named in
    its log; see executions.replay."""
    conn = await connect(dsn)
    try:
        return await executions.replay(conn, execution_id, reason=replay_reason(by))
    finally:
        await conn.close()


def replay_reason(by: str) -> str:
    """The log line of an execution an operator replayed `by` a command or a page."""
    return f"replayed by an operator ({by})"


def replayed_line(execution_id: uuid.UUID, done: executions.Replay) -> str:
    """One line for a replay, the CLI's and the admin page's: done, or why not."""
    if done.replayed:
        return f"re-queued execution {execution_id}"
    if done.status is None:
        return f"no execution has id {execution_id}"
    if done.status == ExecutionStatus.RUNNING:
        return (
            f"execution {execution_id} is running now, so it was not replayed;"
            " replay it once it has finished"
        )
    if done.status == ExecutionStatus.PENDING:
        # Replayed, it would lose the attempts its retries count and skip a rate limit's wait.
        return (
            f"execution {execution_id} is pending already: it waits to run, so it was not replayed"
        )
    return f"execution {execution_id} was not replayed ({done.status})"


async def cancel_execution(dsn: str, execution_id: uuid.UUID, *, by: str) -> executions.Cancel:
    """Cancel one pending execution, `by` (where the operator asked: "hookwise cancel",
    "admin") named in its reason; see executions.cancel."""
    conn = await connect(dsn)
    try:
        return await executions.cancel(conn, execution_id, reason=cancel_reason(by))
    finally:
        await conn.close()


def cancel_reason(by: str) -> str:
    """The error_message and log line of an execution an operator cancelled `by` a command or
    a page."""
    return f"cancelled by an operator ({by})"


def cancelled_line(execution_id: uuid.UUID, done: executions.Cancel) -> str:
    """One line for a cancel: what was cancelled, or why it was not."""
    if done.cancelled:
        name = (done.workflow or "").removeprefix("hookwise.")
        where = f" on {done.subject_label}" if done.subject_label else ""
        if done.abandoned:
            # The next claim would have run it again from the start; now none will.
            return (
                f"cancelled execution {execution_id}: {name}{where}; its worker had stopped"
                " answering (its lease expired), so no worker will take it over and run it again"
            )
        return f"cancelled execution {execution_id}: {name}{where}"
    if done.status is None:
        return f"no execution has id {execution_id}"
    if done.status == ExecutionStatus.RUNNING and not done.abandoned:
        # Its posts may be half made: stopping it midway would leave them so, unseen.
        return (
            f"execution {execution_id} is running now, so it was not cancelled: what it does"
            " may be half done; wait for it to finish, or to fail"
        )
    if done.status == ExecutionStatus.PENDING or done.abandoned:
        # Claimed and given back under each try (executions.CANCEL_TRIES), or its lease lapsing
        # under each: not for want of trying.
        return f"execution {execution_id} kept changing while it was cancelled; try again"
    if done.status == ExecutionStatus.CANCELLED:
        return f"execution {execution_id} is cancelled already"
    return f"execution {execution_id} has finished ({done.status}): only a pending one is cancelled"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(timedelta(seconds=round(seconds)))


async def status(dsn: str) -> str:
    conn = await connect(dsn)
    try:
        state = await events.queue_status(conn)
        waiting = await events.waiting_by_event(conn)
        troubled = await repositories.troubled(conn)
        runs = await executions.by_workflow(conn)
    finally:
        await conn.close()
    counts = table(["status", "events"], [(s, state.counts.get(s, 0)) for s in EventStatus])
    parts = [counts, f"\noldest pending: {_age(state.oldest_pending_seconds)}"]
    if waiting:
        parts.append("\n" + table(["waiting", "event"], [(n, e) for e, n in waiting]))
    if state.failures:
        parts.append("\n" + table(["failures", "error"], [(n, e) for e, n in state.failures]))
    if troubled:
        # Skipped by the reconcile schedule (suspended) or failing: `hookwise reconcile --repo`.
        rows: list[tuple[object, ...]] = [
            (r.full_name, r.status, r.failure_count, _one_line(r.last_error)) for r in troubled
        ]
        parts.append("\n" + table(["repository", "status", "failures", "last error"], rows))
    if runs:
        rows = [
            (name.removeprefix("hookwise."), *(runs[name].get(s, 0) for s in statuses.LISTED))
            for name in sorted(runs)
        ]
        parts.append("\n" + table(["executions", *statuses.LISTED], rows))
    return "\n".join(parts)


def _one_line(text: str | None) -> str:
    return (text or "").split("\n", 1)[0][:120]


async def reconcile(dsn: str, full_name: str | None) -> str:
    """Queue reconciles now (app/reconcile.py by_hand) and list them."""
    conn = await connect(dsn)
    try:
        queued = await reconciling.by_hand(conn, full_name=full_name)
    finally:
        await conn.close()
    listing = table(
        ["id", "repository", "event", "result"],
        [
            (
                q.event_id or "-",
                q.target.full_name,
                q.event_type,
                "queued" if q.event_id is not None else "already queued",
            )
            for q in queued
        ],
    )
    new = sum(1 for q in queued if q.event_id is not None)
    return f"{listing}\nqueued {new} reconcile{'s' if new != 1 else ''}"


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

"""Run one claimed execution, procrastinate-style: fetch (claimed already), run outside any
transaction, finish.

Before running, an execution made pointless meanwhile (a review of a superseded head, any
reaction but Linear's of a closed PR, anything of a suspended or deleted installation) is
cancelled with that reason. While it runs, its lease is renewed every third of the lease, so a
slow model answer never lets a second worker start it; a lease found lost cancels the run.
Its error is classified once (app/clients/errors.py):

    RateLimited   released until the time named, the attempt given back
    Refused       failed at once, the reason shown where the user looks and counted
    Undecided     (a declared workflow's condition GitHub's listings cannot decide) the same
    Unavailable   retried with backoff; failed after HOOKWISE_MAX_ATTEMPTS, the reason
                  then shown as a refusal's is
    anything else (a bug of ours): as Unavailable

An execution whose payload is its event's stored body, and that body cannot be read (nested
deeper than ingest takes, stored by an earlier release), fails at once with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from app import failures
from app.clients import guard
from app.clients.errors import RateLimited, Refused, classify
from app.context import Context
from app.queue import LOCK
from app.reactions.builtin import lookup
from app.reactions.context import ReactionContext
from app.reactions.policy import pointless
from app.retry import backoff
from app.store import answers, executions
from app.store.errors import StoreError
from app.store.executions import Execution
from app.store.pool import PerStatement, connection
from app.store.statuses import ExecutionStatus
from app.workflows.engine import Skipped, Undecided

log = logging.getLogger(__name__)

STATE = """
SELECT
    (SELECT json_build_object('state', p.state, 'head_sha', p.head_sha)
     FROM pull_requests p WHERE p.id = $1) AS pull,
    (SELECT json_build_object('suspended_at', i.suspended_at, 'deleted_at', i.deleted_at)
     FROM installations i WHERE i.id = $2) AS installation
"""


# The key app/worker.serial_keys gives a pull request's events.
PR_KEY = """
SELECT 'pr:' || r.github_id || ':' || p.pr_number
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id WHERE p.id = $1
"""


class LeaseLost(Exception):
    """Another worker took this execution over after our lease expired."""


async def why_pointless(app: Context, execution: Execution) -> str | None:
    """Read the PR and installation as they stand, behind the lock its events take: an event
    of this PR being handled now (a close, a push) is seen, not raced."""
    payload = execution.trigger_data or {}
    head = ((payload.get("pull_request") or {}).get("head") or {}).get("sha")
    async with connection(app.pool) as conn, conn.transaction():
        key = await conn.fetchval(PR_KEY, execution.pull_request_id)
        with guard.holding("the pull request's lock"):
            if key is not None:
                await conn.execute(LOCK, key)
            row = await conn.fetchrow(STATE, execution.pull_request_id, execution.installation_id)
    assert row is not None  # a SELECT of two subqueries: always one row
    return pointless(
        execution.workflow, head_sha=head, pull=row["pull"], installation=row["installation"]
    )


async def execute(app: Context, execution: Execution, bound: logging.LoggerAdapter[Any]) -> str:
    """Run `execution` to an outcome: completed, cancelled, failed, retry, rescheduled or
    lease_lost. Store errors while finishing are logged: the lease expires and it runs again."""
    db = PerStatement(app.pool)
    if execution.unreadable is not None:
        # Read again, the body fails again: failed at once, as its event would be now.
        text = f"its event's body cannot be read: {execution.unreadable}"
        await executions.log(db, execution.id, "ERROR", text, step="error")
        if not await executions.finish(db, execution, ExecutionStatus.FAILED, error=text):
            return "lease_lost"
        return "failed"
    workflow = lookup(execution.workflow)
    reason = None
    if workflow is None:
        reason = f"no workflow named {execution.workflow}"
    elif (workflow.needs_github and app.github_ports() is None) or (
        workflow.needs_model and app.model is None
    ):
        reason = "the GitHub App or the model is not configured any more"
    elif execution.trigger_data is None:
        # Its payload is its event's stored body (app/store/executions.py), deleted since.
        reason = "the event that started it is no longer stored"
    else:
        reason = await why_pointless(app, execution)
    if reason is not None:
        await executions.log(db, execution.id, "INFO", f"cancelled: {reason}", step="cancel")
        if not await executions.finish(db, execution, ExecutionStatus.CANCELLED, error=reason):
            return "lease_lost"
        return "cancelled"
    assert workflow is not None
    ctx = ReactionContext(
        execution=execution, payload=execution.trigger_data or {}, app=app, log=bound, conn=db
    )
    try:
        summary = await _with_lease(app, execution, workflow.run(ctx))
    except LeaseLost:
        return "lease_lost"
    except Skipped as skipped:
        why = str(skipped)
        await executions.log(db, execution.id, "INFO", f"skipped: {why}", step="skip")
        if not await executions.finish(db, execution, ExecutionStatus.SKIPPED, error=why):
            return "lease_lost"
        return "skipped"
    except Undecided as undecided:
        # Asking again shows the same listing: failed at once, as a refusal is.
        why = str(undecided)
        await executions.log(db, execution.id, "ERROR", why, step="undecided")
        if not await executions.finish(db, execution, ExecutionStatus.FAILED, error=why):
            return "lease_lost"
        return "failed"
    except asyncio.CancelledError:
        with contextlib.suppress(StoreError, asyncio.CancelledError):
            await asyncio.shield(executions.release(db, execution))
        raise
    except Exception as exc:
        return await _failed(ctx, exc)
    await executions.log(db, execution.id, "INFO", summary, step="done")
    if not await executions.finish(
        db, execution, ExecutionStatus.COMPLETED, result={"summary": summary}
    ):
        return "lease_lost"
    await answers.forget(db, execution.id)
    return "completed"


async def _with_lease(app: Context, execution: Execution, run: Awaitable[str]) -> str:
    lease = app.settings.worker.lease_seconds
    task = asyncio.ensure_future(run)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=lease / 3)
            if done:
                return task.result()
            try:
                async with connection(app.pool) as conn:
                    kept = await executions.renew(conn, execution, lease=lease)
            except StoreError:
                continue  # the database is away: keep trying while the lease lasts
            if not kept:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise LeaseLost
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _failed(ctx: ReactionContext, exc: Exception) -> str:
    app, execution, db = ctx.app, ctx.execution, ctx.conn
    error = classify(exc)
    text = failures.reason(exc)
    if isinstance(error, RateLimited):
        await executions.log(db, execution.id, "WARNING", text, step="rate_limited")
        if not await executions.release(db, execution, at=error.until, reason=text):
            return "lease_lost"
        return "rescheduled"
    if isinstance(error, Refused):
        await executions.log(db, execution.id, "ERROR", text, step="refused")
        if not await executions.finish(db, execution, ExecutionStatus.FAILED, error=text):
            return "lease_lost"
        await _show(ctx, text)
        return "failed"
    if error is None:
        ctx.log.error("execution %s: %s", execution.execution_id, text, exc_info=exc)
    settings = app.settings.worker
    delay = backoff(
        execution.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
    )
    await executions.log(db, execution.id, "WARNING", text, step="error")
    status = await executions.retry(
        db, execution, text, max_attempts=settings.max_attempts, delay=delay
    )
    if status is None:
        return "lease_lost"
    if status != ExecutionStatus.FAILED:
        return "retry"
    # Its last attempt: failed for good, shown where the user looks as a refusal is.
    await _show(ctx, text)
    return "failed"


async def _show(ctx: ReactionContext, text: str) -> None:
    """A failed execution's reason where the user looks (our check run, the reviews row)."""
    workflow = lookup(ctx.execution.workflow)
    assert workflow is not None
    try:
        await workflow.show_failure(ctx, text)
    except Exception as shown:  # best effort: the admin and the metric show it anyway
        ctx.log.warning("could not show the failure: %s", classify(shown) or shown)

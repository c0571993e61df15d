"""`check_run`, every action: keep `check_runs` current and linked to their pull request.

`check_suite` has no handler: its payload carries no check runs, only the suite's summary, and
every run of the suite arrives as a check_run event of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from app.handlers.github_payload import (
    parse_time,
    record_steps,
    record_stored,
    repository_from_payload,
)
from app.router import BatchEvents, EventRow, HandlerContext, Router
from app.store import check_runs
from app.store.check_runs import CheckRun, Written
from app.store.repositories import Repository

router = Router()


def to_row(run: Mapping[str, Any], *, arrival: int | None = None) -> CheckRun:
    output = run.get("output") or {}
    external_id = run.get("external_id")
    return CheckRun(
        github_id=run["id"],
        check_name=run["name"],
        head_sha=run["head_sha"],
        status=run["status"],
        conclusion=run.get("conclusion"),
        app_slug=(run.get("app") or {}).get("slug"),
        # The seed's external_id is GitHub's id of the run; GitHub's field goes in metadata.
        metadata={"external_id": external_id} if external_id else None,
        details_url=run.get("details_url"),
        html_url=run.get("html_url"),
        check_suite_id=(run.get("check_suite") or {}).get("id"),
        started_at=parse_time(run.get("started_at")),
        completed_at=parse_time(run.get("completed_at")),
        output_title=output.get("title"),
        output_summary=output.get("summary"),
        last_arrival=arrival,
    )


def listed_numbers(run: Mapping[str, Any], repository_github_id: int) -> list[int]:
    """Numbers of the PRs the payload names in this repository (forks: none)."""
    numbers = []
    for pr in run.get("pull_requests") or ():
        base_repo = (pr.get("base") or {}).get("repo") or {}
        if base_repo.get("id", repository_github_id) == repository_github_id:
            numbers.append(pr["number"])
    return numbers


def _rows(event: EventRow, payload: Mapping[str, Any]) -> tuple[Repository, CheckRun, list[int]]:
    run = payload["check_run"]
    repository = repository_from_payload(payload, arrival=event.arrival)
    row = to_row(run, arrival=event.arrival)
    return repository, row, listed_numbers(run, repository.github_id)


@router.batch_step("github", "check_run")
async def record_batch(
    conn: asyncpg.Connection, events: BatchEvents, batch: BatchEvents
) -> list[Written | None]:
    """The handler's first statement for each of a batch's check_run events, in one round
    trip (github_payload.record_steps says which events it leaves to their handlers)."""
    return await record_steps(conn, events, batch, _rows, check_runs.record_many)


@router.register("github", "check_run")
async def check_run(ctx: HandlerContext) -> None:
    # One statement: the run, its link to its PR and the PR's last_checked_at. No PR found now
    # (it has not arrived yet): any link made before stays; the PR's own handler links the run
    # when it comes. Sent already with its batch's (record_batch) when that ran.
    if ctx.batched is not None:
        return
    repository, row, numbers = _rows(ctx.event, ctx.payload)
    await record_stored(
        ctx.conn, repository, lambda stored: check_runs.record(ctx.conn, stored, row, numbers)
    )

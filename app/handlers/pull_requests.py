"""`pull_request`, every action: keep `pull_requests` current; the database writes the history."""

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
from app.store import pull_requests
from app.store.pull_requests import PullRequest, Written
from app.store.repositories import Repository

router = Router()

# The pull_request actions in the trigger_event enum; others are recorded as 'unknown'.
TRIGGERS = frozenset(
    {
        "opened", "reopened", "closed", "synchronize", "edited",
        "ready_for_review", "converted_to_draft",
        "assigned", "unassigned", "labeled", "unlabeled",
        "review_requested", "review_request_removed",
        "locked", "unlocked", "milestoned", "demilestoned",
        "auto_merge_enabled", "auto_merge_disabled", "enqueued", "dequeued",
    }
)  # fmt: skip


def state_of(pr: Mapping[str, Any]) -> str:
    if pr.get("merged") or pr.get("merged_at"):
        return "merged"
    return "closed" if pr.get("state") == "closed" else "opened"


def trigger_of(action: str | None, state: str) -> str:
    if action == "closed" and state == "merged":
        return "merged"
    return action if action is not None and action in TRIGGERS else "unknown"


def is_fork(pr: Mapping[str, Any]) -> bool:
    # A deleted fork leaves head.repo null: still not ours to push to.
    head_repo = pr["head"].get("repo")
    return head_repo is None or head_repo["id"] != pr["base"]["repo"]["id"]


def to_row(
    pr: Mapping[str, Any],
    *,
    action: str | None,
    delivery_id: str,
    arrival: int | None = None,
) -> PullRequest:
    state = state_of(pr)
    head, base = pr["head"], pr["base"]
    return PullRequest(
        github_id=pr["id"],
        pr_number=pr["number"],
        state=state,
        draft=bool(pr.get("draft")),
        title=pr.get("title"),
        body=pr.get("body"),
        author=(pr.get("user") or {}).get("login"),
        head_branch=head.get("ref"),
        head_sha=head.get("sha"),
        head_repo_full_name=(head.get("repo") or {}).get("full_name"),
        base_branch=base.get("ref"),
        base_sha=base.get("sha"),
        url=pr.get("html_url"),
        is_fork=is_fork(pr),
        github_created_at=parse_time(pr.get("created_at")),
        github_updated_at=parse_time(pr.get("updated_at")),
        closed_at=parse_time(pr.get("closed_at")),
        merged_at=parse_time(pr.get("merged_at")),
        last_trigger=trigger_of(action, state),
        last_delivery_id=delivery_id,
        metadata=metadata_of(pr),
        last_arrival=arrival,
    )


def metadata_of(pr: Mapping[str, Any]) -> dict[str, Any] | None:
    """What `metadata` keeps of the PR: its label names, sorted (a REST listing and a webhook
    may order them differently)."""
    labels = sorted(label["name"] for label in pr.get("labels") or () if label.get("name"))
    return {"labels": labels} if labels else None


def _rows(event: EventRow, payload: Mapping[str, Any]) -> tuple[Repository, PullRequest]:
    row = to_row(
        payload["pull_request"],
        action=payload.get("action"),
        delivery_id=event.delivery_id,
        arrival=event.arrival,
    )
    return repository_from_payload(payload, arrival=event.arrival), row


@router.batch_step("github", "pull_request")
async def record_batch(
    conn: asyncpg.Connection, events: BatchEvents, batch: BatchEvents
) -> list[Written | None]:
    """The handler's first statement for each of a batch's pull_request events, in one round
    trip (github_payload.record_steps says which events it leaves to their handlers)."""
    return await record_steps(conn, events, batch, _rows, pull_requests.record_many)


@router.register("github", "pull_request")
async def pull_request(ctx: HandlerContext) -> None:
    # One statement: the PR, and the runs of the payload's head (not the stored one: runs of an
    # older commit belong to this PR too, even when this payload is too old to change the row)
    # that came before it, linked. Sent already with its batch's (record_batch) when that ran.
    recorded: Written | None = ctx.batched
    if recorded is None:
        recorded = await _record(ctx)
    # For the links handler, next: unchanged text needs no relink, nor a new PR naming nothing.
    ctx.notes.pull_text_changed = recorded.text_changed
    ctx.notes.pull_created = recorded.created


async def _record(ctx: HandlerContext) -> Written:
    repository, row = _rows(ctx.event, ctx.payload)
    return await record_stored(
        ctx.conn, repository, lambda stored: pull_requests.record(ctx.conn, stored, row)
    )

"""`pull_request`: link the PR to the Linear issues it names, and start telling Linear.

Runs after pull_requests' handler, in the same transaction, and reads the stored PR rather than
the payload: that row is never older than the payload, so a late delivery cannot relink from
outdated text. Links are rebuilt from the branch name, title and body whenever the event
changed one of them (the pull_request handler says so in `ctx.notes`), from the issues stored;
a link whose text went away is dropped. No network call: issues not stored yet
are asked of Linear by the built-in workflow hookwise.linear_sync, which the workflow engine
starts from the links written here (app/workflows/builtins.py; app/reactions/linear.py attaches,
completes and comments).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.analysis.links import mentions
from app.router import HandlerContext, Router
from app.store import linear_issues, links
from app.store.linear_issues import LinearIssue
from app.store.links import Link, Linked, PullText
from app.store.pool import Queries

router = Router()


async def relink(
    conn: Queries,
    log: logging.LoggerAdapter[logging.Logger],
    pull: PullText,
    issues: Mapping[str, LinearIssue] | None = None,
    *,
    current: list[Linked] | None = None,
) -> list[Linked]:
    """Rebuild the PR's links from its text and the issues stored (or `issues`, by identifier);
    the links as they now stand. `current`: its links as read with it (else read here). Written
    only when they change, in one statement."""
    if current is None:
        current = await links.linked(conn, pull.id)
    found = mentions(branch=pull.head_branch, title=pull.title, body=pull.body)
    if issues is None:
        issues = await linear_issues.by_identifiers(conn, (m.identifier for m in found))
    wanted: dict[str, Link] = {}
    for mention in found:
        issue = issues.get(mention.identifier)
        if issue is None:
            continue
        # An old and a new identifier of one moved issue: closing wins.
        earlier = wanted.get(issue.id)
        if earlier is None or (earlier.kind == "references" and mention.kind == "closes"):
            wanted[issue.id] = Link(issue.id, mention.kind, mention.source)
    if set(wanted.values()) == {Link(k.linear_issue_id, k.kind, k.source) for k in current}:
        return current
    dropped, now = await links.rewrite(conn, pull.id, list(wanted.values()))
    if dropped:
        log.info("%s#%d: unlinked %s", pull.full_name, pull.pr_number, ", ".join(dropped))
    return now


def text_of(pr: Mapping[str, Any]) -> dict[str, str | None]:
    """A pull_request payload's branch, title and body, as mentions() takes them."""
    return {"branch": pr["head"].get("ref"), "title": pr.get("title"), "body": pr.get("body")}


@router.register("github", "pull_request", "opened")
@router.register("github", "pull_request", "edited")
@router.register("github", "pull_request", "reopened")
@router.register("github", "pull_request", "synchronize")
@router.register("github", "pull_request", "closed")
async def link_pull_request(ctx: HandlerContext) -> None:
    # The pull_request handler, just before, wrote the PR: its branch, title and body are what
    # they were (a push, a close, a replay, an older payload), so the links read from them are
    # too. Issues stored since are linked by app/handlers/linear.py.
    if ctx.notes.pull_text_changed is False:
        return
    # A PR this event created has no links yet, and its text is the payload's.
    if ctx.notes.pull_created and not mentions(**text_of(ctx.payload["pull_request"])):
        return
    found = await links.pull_with_links(ctx.conn, ctx.payload["pull_request"]["id"])
    if found is None:
        return
    pull, current = found
    await relink(ctx.conn, ctx.log, pull, current=current)

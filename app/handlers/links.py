"""`pull_request`: link the PR to the Linear issues it names, and start telling Linear.

Runs after pull_requests' handler, in the same transaction, and reads the stored PR rather than
the payload: that row is never older than the payload, so a late delivery cannot relink from
outdated text. Links are rebuilt from the branch name, title and body each time, from the
issues stored; a link whose text went away is dropped. No network call: issues not stored yet
are asked of Linear by the hookwise.linear_sync execution started here
(app/reactions/linear.py), which also attaches, completes and comments.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from app.analysis.links import Mention, mentions
from app.reactions import triggers
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
) -> list[Linked]:
    """Rebuild the PR's links from its text and the issues stored (or `issues`, by identifier);
    the links as they now stand."""
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
    dropped = await links.replace(conn, pull.id, list(wanted.values()))
    if dropped:
        log.info("%s#%d: unlinked %s", pull.full_name, pull.pr_number, ", ".join(dropped))
    return await links.linked(conn, pull.id)


def unresolved(pull: PullText, linked: list[Linked]) -> list[Mention]:
    """The mentions no stored issue answers: Linear may know them."""
    known = {link.identifier for link in linked}
    found = mentions(branch=pull.head_branch, title=pull.title, body=pull.body)
    return [m for m in found if m.identifier not in known]


async def start_linear_sync(
    ctx: HandlerContext, pull: PullText, linked: list[Linked], *, closing: bool
) -> None:
    """Start hookwise.linear_sync once per link set and PR state: a redelivery starts nothing."""
    if ctx.app.linear is None:
        return
    wanted = sorted(
        [link.linear_issue_id for link in linked if link.removed_at is None]
        + [m.identifier for m in unresolved(pull, linked)]
    )
    if not wanted:
        return
    digest = hashlib.sha256(",".join(wanted).encode()).hexdigest()[:16]
    # "open", not the stored 'opened': keys of executions started before 0006 stay the same.
    state = pull.state if closing else "open"
    await triggers.start_for_pull(
        ctx,
        "hookwise.linear_sync",
        f"linear:{pull.github_id}:{state}:{digest}",
        pull_request_id=pull.id,
        label=f"{pull.full_name}#{pull.pr_number}",
        payload={"pull_request_github_id": pull.github_id, "closing": closing},
    )


@router.register("github", "pull_request", "opened")
@router.register("github", "pull_request", "edited")
@router.register("github", "pull_request", "reopened")
@router.register("github", "pull_request", "synchronize")
@router.register("github", "pull_request", "closed")
async def link_pull_request(ctx: HandlerContext) -> None:
    pull = await links.pull(ctx.conn, ctx.payload["pull_request"]["id"])
    if pull is None:
        return
    linked = await relink(ctx.conn, ctx.log, pull)
    # The stored state decides: a stale `closed` delivery for a PR since reopened says nothing.
    closing = ctx.payload.get("action") == "closed" and pull.state != "opened"
    await start_linear_sync(ctx, pull, linked, closing=closing)

"""hookwise.linear_sync: keep Linear in step with a pull request's links, merge and close.

Started by the pull_request state handler (app/handlers/links.py) once per set of links and PR
state. Issues the PR names that are not stored yet are asked of Linear here, stored, and the
links rebuilt. Then, through outbound_actions (post_once, so nothing is sent twice): each
linked issue gets the PR attached; on merge, each issue the PR closes moves to its team's
completed state (HOOKWISE_LINEAR_CLOSE_ON_MERGE); on close without merge, each linked issue
gets a comment saying so. A refusal for one issue is logged and the others still told; a rate
limit or an outage fails the execution, which the runner reschedules or retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

from app.analysis.links import Mention, mentions
from app.clients.errors import Refused
from app.clients.linear import LinearClient, NoAction, automation_state
from app.handlers.links import relink
from app.outbound import Action, post_once
from app.reactions.context import ReactionContext
from app.store import linear_issues, links
from app.store.linear_issues import LinearIssue
from app.store.links import Linked, PullText

# Linear's state types an issue need not be moved out of on merge: finished already.
DONE = frozenset({"completed", "canceled", "duplicate"})
# Comment ids we make are UUIDs derived from what the comment is for (see comment_closed).
COMMENT_IDS = uuid.UUID("9a4c3a0e-2f64-4a51-9f0d-6b1f5c1e7d21")


async def run(ctx: ReactionContext) -> str:
    """Resolve, relink, then tell Linear; what was done, for the execution's result."""
    pull = await links.pull(ctx.conn, ctx.payload["pull_request_github_id"])
    if pull is None:
        return "the pull request is not stored"
    found = mentions(branch=pull.head_branch, title=pull.title, body=pull.body)
    issues = await resolve(ctx, found)
    linked = await relink(ctx.conn, ctx.log, pull, issues)
    refused = await tell_linear(ctx, pull, linked, closing=bool(ctx.payload.get("closing")))
    count = len([link for link in linked if link.removed_at is None])
    if not refused:
        return f"{count} linked issues told"
    # Completed all the same (the others were told), but the result the admin shows says who
    # was not: "told" of an issue Linear refused would be untrue.
    told = count - len(refused)
    return f"{told} of {count} linked issues told; Linear refused {', '.join(refused)}"


async def resolve(ctx: ReactionContext, found: list[Mention]) -> dict[str, LinearIssue]:
    """The issues behind the identifiers, by identifier: the stored ones, and, with a Linear
    client, those of known teams that Linear has and we have not seen yet."""
    issues = await linear_issues.by_identifiers(ctx.conn, (m.identifier for m in found))
    linear = ctx.app.linear
    missing = [m for m in found if m.identifier not in issues]
    if not missing or linear is None:
        return issues
    # Unknown team keys are words that look like identifiers (UTF-8, SHA-256): not asked about.
    # A key no stored issue has may still be a team: Linear's own list of teams decides.
    teams = await linear_issues.known_team_keys(ctx.conn, (m.team_key for m in missing))
    teams |= await linear.teams_among({m.team_key for m in missing} - teams)
    for mention in missing:
        if mention.team_key not in teams:
            continue
        try:
            fetched = await linear.issue(mention.identifier)
        except Refused as exc:
            why = f"Linear refused {mention.identifier}: {exc}"
            await ctx.step("resolve", why, level="WARNING")
            continue
        if fetched is None:
            continue
        issue = LinearIssue(
            id=fetched.id,
            identifier=fetched.identifier,
            title=fetched.title,
            team_id=fetched.team_id,
            team_key=fetched.team_key,
            state_id=fetched.state.id,
            state_name=fetched.state.name,
            state_type=fetched.state.type,
            url=fetched.url,
            linear_updated_at=fetched.updated_at,
        )
        await linear_issues.upsert(ctx.conn, issue)
        issues[mention.identifier] = issue
    return issues


def _target(link: Linked, pull: PullText) -> str:
    return f"{link.identifier} <- {pull.full_name}#{pull.pr_number}"


async def attach(ctx: ReactionContext, linear: LinearClient, pull: PullText, link: Linked) -> None:
    url = pull.url or ""
    title = f"#{pull.pr_number} {pull.title or ''}".strip()
    request = {"issueId": link.linear_issue_id, "url": url, "title": title}

    async def create() -> str:
        return await linear.attach_url(
            link.linear_issue_id, url=url, title=title, subtitle=pull.full_name
        )

    # Linear keeps one attachment per URL and issue, so a retry that did reach it only updates
    # that attachment: nothing to look for first.
    await post_once(
        ctx.app.pool,
        Action("linear.attach", f"{link.linear_issue_id}:{pull.github_id}", _target(link, pull)),
        event_id=ctx.event_id,
        request=request,
        create=create,
    )


async def complete(
    ctx: ReactionContext, linear: LinearClient, pull: PullText, link: Linked
) -> None:
    """On merge, move the issue as its team's Git automation says, once the last open PR that
    completes it has merged (Linear's own integration waits for the final linked PR)."""
    if link.state_type in DONE:
        return
    others = await links.other_open_closers(ctx.conn, link.linear_issue_id, pull.id)
    if others:
        why = f"{_target(link, pull)}: left as it is while {', '.join(others)} is open"
        await ctx.step("linear", why)
        return
    team_id = link.team_id
    if team_id is None:
        fetched = await linear.issue(link.linear_issue_id)
        if fetched is None:
            return
        team_id = fetched.team_id
    chosen = automation_state(await linear.team_workflow(team_id), "merge", pull.base_branch or "")
    if isinstance(chosen, NoAction):
        why = f"{_target(link, pull)}: the team's automation for a merge into"
        await ctx.step("linear", f"{why} {pull.base_branch} takes no action")
        return
    target = chosen

    async def create() -> str:
        moved = await linear.set_state(link.linear_issue_id, target.id)
        return moved.id if moved is not None else target.id

    # Setting the same state again changes nothing: a retry need not look first.
    await post_once(
        ctx.app.pool,
        Action("linear.complete", f"{link.linear_issue_id}:{pull.github_id}", _target(link, pull)),
        event_id=ctx.event_id,
        request={"issueId": link.linear_issue_id, "stateId": target.id, "merged": pull.url},
        create=create,
    )


async def comment_closed(
    ctx: ReactionContext, linear: LinearClient, pull: PullText, link: Linked
) -> None:
    body = (
        f"Pull request [{pull.full_name}#{pull.pr_number}]({pull.url}) was closed without "
        "being merged."
    )

    key = f"{link.linear_issue_id}:{pull.github_id}:closed"
    # The same id on every try: a retry after a lost answer cannot make a second comment.
    comment_id = str(uuid.uuid5(COMMENT_IDS, key))

    async def create() -> str:
        return await linear.comment(link.linear_issue_id, body, comment_id=comment_id)

    async def find() -> str | None:
        for comment in await linear.comments(link.linear_issue_id):
            if comment.id == comment_id or comment.body == body:
                return comment.id
        return None

    await post_once(
        ctx.app.pool,
        Action("linear.comment", key, _target(link, pull)),
        event_id=ctx.event_id,
        request={"issueId": link.linear_issue_id, "body": body},
        create=create,
        find=find,
    )


async def tell_linear(
    ctx: ReactionContext, pull: PullText, linked: list[Linked], *, closing: bool
) -> list[str]:
    """Attach the PR to every linked issue; when this event closed it, complete or comment.
    The identifiers of the issues Linear refused something of."""
    linear = ctx.app.linear
    if linear is None:
        return []
    refused: list[str] = []
    for link in linked:
        if link.removed_at is not None:
            continue
        told = await _unless_refused(ctx, link, pull, attach(ctx, linear, pull, link))
        if closing and pull.state == "merged":
            if link.kind == "closes" and ctx.settings.linear.close_on_merge:
                told &= await _unless_refused(ctx, link, pull, complete(ctx, linear, pull, link))
        elif closing and pull.state == "closed":
            told &= await _unless_refused(ctx, link, pull, comment_closed(ctx, linear, pull, link))
        if not told:
            refused.append(link.identifier)
    return refused


async def _unless_refused(
    ctx: ReactionContext, link: Linked, pull: PullText, effect: Awaitable[None]
) -> bool:
    """Whether Linear took `effect`."""
    try:
        await effect
    except Refused as exc:
        # Linear refused one issue (deleted, say): the others are still told. The refusal is
        # kept in outbound_actions and in this execution's log.
        await ctx.step("linear", f"{_target(link, pull)}: Linear refused: {exc}", level="WARNING")
        return False
    await ctx.step("linear", f"{_target(link, pull)}: told")
    return True

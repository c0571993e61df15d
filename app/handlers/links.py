"""`pull_request`: link the PR to the Linear issues it names, and keep Linear in step.

Runs after pull_requests' handler, in the same transaction, and reads the stored PR rather than
the payload: that row is never older than the payload, so a late delivery cannot relink from
outdated text. Links are rebuilt from the branch name, title and body each time; a link whose
text went away is dropped.

With a Linear API key, through outbound_actions (so a redelivery or replay sends nothing
twice): each linked issue gets the PR attached; on merge, each issue the PR closes moves to its
team's completed state (HOOKWISE_LINEAR_CLOSE_ON_MERGE); on close without merge, each linked
issue gets a comment saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable

from app.analysis.links import Mention, mentions
from app.clients.linear import (
    LinearClient,
    LinearError,
    RateLimited,
    Unavailable,
    completed_state,
)
from app.outbound import Action, perform
from app.router import HandlerContext, Router
from app.store import linear_issues, links
from app.store.linear_issues import LinearIssue
from app.store.links import Link, Linked, PullText

router = Router()

# Linear's state types an issue need not be moved out of on merge.
DONE = frozenset({"completed", "canceled"})
# Worth failing the event for: it is retried (RateLimited: when Linear says) and will pass.
TRANSIENT = (RateLimited, Unavailable)


async def resolve(event: HandlerContext, found: list[Mention]) -> dict[str, LinearIssue]:
    """The issues behind the identifiers, by identifier: the stored ones, and, with a Linear
    client, those of known teams that Linear has and we have not seen yet."""
    issues = await linear_issues.by_identifiers(event.conn, (m.identifier for m in found))
    linear = event.app.linear
    missing = [m for m in found if m.identifier not in issues]
    if not missing or linear is None:
        return issues
    # Unknown team keys are words that look like identifiers (UTF-8, SHA-256): not asked about.
    teams = await linear_issues.known_team_keys(event.conn, (m.team_key for m in missing))
    for mention in missing:
        if mention.team_key not in teams:
            continue
        try:
            fetched = await linear.issue(mention.identifier)
        except TRANSIENT:
            raise
        except LinearError as exc:
            event.log.warning("Linear refused %s: %s", mention.identifier, exc)
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
        await linear_issues.upsert(event.conn, issue)
        issues[mention.identifier] = issue
    return issues


async def relink(event: HandlerContext, pull: PullText) -> list[Linked]:
    """Rebuild the PR's links from its text; the links as they now stand."""
    found = mentions(branch=pull.head_ref, title=pull.title, body=pull.body)
    issues = await resolve(event, found)
    wanted: dict[str, Link] = {}
    for mention in found:
        issue = issues.get(mention.identifier)
        if issue is None:
            continue
        # An old and a new identifier of one moved issue: closing wins.
        earlier = wanted.get(issue.id)
        if earlier is None or (earlier.kind == "references" and mention.kind == "closes"):
            wanted[issue.id] = Link(issue.id, mention.kind, mention.source)
    dropped = await links.replace(event.conn, pull.id, list(wanted.values()))
    if dropped:
        event.log.info("%s#%d: unlinked %s", pull.full_name, pull.number, ", ".join(dropped))
    return await links.linked(event.conn, pull.id)


def _target(link: Linked, pull: PullText) -> str:
    return f"{link.identifier} <- {pull.full_name}#{pull.number}"


async def attach(event: HandlerContext, linear: LinearClient, pull: PullText, link: Linked) -> None:
    url = pull.html_url or ""
    title = f"#{pull.number} {pull.title or ''}".strip()
    request = {"issueId": link.linear_issue_id, "url": url, "title": title}

    async def create() -> str:
        return await linear.attach_url(
            link.linear_issue_id, url=url, title=title, subtitle=pull.full_name
        )

    # Linear keeps one attachment per URL and issue, so a retry that did reach it only updates
    # that attachment: nothing to look for first.
    await perform(
        event.app.pool,
        Action("linear.attach", f"{link.linear_issue_id}:{pull.github_id}", _target(link, pull)),
        event_id=event.event.id,
        request=request,
        create=create,
    )


async def complete(
    event: HandlerContext, linear: LinearClient, pull: PullText, link: Linked
) -> None:
    if link.state_type in DONE:
        return
    team_id = link.team_id
    if team_id is None:
        fetched = await linear.issue(link.linear_issue_id)
        if fetched is None:
            return
        team_id = fetched.team_id

    async def create() -> str:
        done = completed_state(await linear.team_states(team_id))
        if done is None:
            raise LinearError(f"team {team_id} of {link.identifier} has no completed state")
        return (await linear.set_state(link.linear_issue_id, done.id)).id

    # Setting the same state again changes nothing: a retry need not look first.
    await perform(
        event.app.pool,
        Action("linear.complete", f"{link.linear_issue_id}:{pull.github_id}", _target(link, pull)),
        event_id=event.event.id,
        request={"issueId": link.linear_issue_id, "teamId": team_id, "merged": pull.html_url},
        create=create,
    )


async def comment_closed(
    event: HandlerContext, linear: LinearClient, pull: PullText, link: Linked
) -> None:
    body = (
        f"Pull request [{pull.full_name}#{pull.number}]({pull.html_url}) was closed without "
        "being merged."
    )

    async def create() -> str:
        return await linear.comment(link.linear_issue_id, body)

    async def find() -> str | None:
        for comment in await linear.comments(link.linear_issue_id):
            if comment.body == body:
                return comment.id
        return None

    await perform(
        event.app.pool,
        Action(
            "linear.comment",
            f"{link.linear_issue_id}:{pull.github_id}:closed",
            _target(link, pull),
        ),
        event_id=event.event.id,
        request={"issueId": link.linear_issue_id, "body": body},
        create=create,
        find=find,
    )


async def tell_linear(
    event: HandlerContext, pull: PullText, linked: list[Linked], *, closing: bool
) -> None:
    """Attach the PR to every linked issue; when this event closed it, complete or comment."""
    linear = event.app.linear
    if linear is None:
        return
    for link in linked:
        if link.removed_at is not None:
            continue
        await _unless_refused(event, link, pull, attach(event, linear, pull, link))
        if not closing:
            continue
        if pull.state == "merged":
            if link.kind == "closes" and event.settings.linear_close_on_merge:
                await _unless_refused(event, link, pull, complete(event, linear, pull, link))
        elif pull.state == "closed":
            await _unless_refused(event, link, pull, comment_closed(event, linear, pull, link))


async def _unless_refused(
    event: HandlerContext, link: Linked, pull: PullText, effect: Awaitable[None]
) -> None:
    try:
        await effect
    except TRANSIENT:
        raise
    except LinearError as exc:
        # Linear refused (a deleted issue, a revoked key): failing the event would roll back
        # the PR's own state with it, and a retry would be refused again. The refusal is kept
        # in outbound_actions, and the next event of this PR tries again.
        event.log.warning(
            "%s: Linear refused: %s", _target(link, pull), exc, extra={"action": "linear_refused"}
        )


@router.register("github", "pull_request", "opened")
@router.register("github", "pull_request", "edited")
@router.register("github", "pull_request", "reopened")
@router.register("github", "pull_request", "synchronize")
@router.register("github", "pull_request", "closed")
async def link_pull_request(event: HandlerContext) -> None:
    pull = await links.pull(event.conn, event.payload["pull_request"]["id"])
    if pull is None:
        return
    linked = await relink(event, pull)
    # The stored state decides: a stale `closed` delivery for a PR since reopened says nothing.
    closing = event.payload.get("action") == "closed"
    await tell_linear(event, pull, linked, closing=closing)

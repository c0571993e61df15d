"""AI review of a pull request: one review per head commit, comments only on lines in the diff.

On opened, ready_for_review and synchronize (not drafts, not bots). On synchronize only what
changed since the last reviewed commit is sent. Posts go through outbound_actions, so a
redelivered or replayed event never reviews twice; the summary comment is updated in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from app import github_limits as limits
from app.analysis.diff import commentable_lines, numbered
from app.answers import ask_once
from app.clients.anthropic import Tool, UnusableAnswer
from app.clients.github import GitHubAPI, is_own_event
from app.outbound import Action, perform
from app.router import HandlerContext, Router
from app.store import reviews
from app.store.reviews import Review

router = Router()

MAX_BODY = limits.COMMENT_BODY
MAX_PATCH_CHARS = 40_000  # a larger file diff is generated or vendored: not worth the tokens
INPUT_BUDGET_TOKENS = 30_000
MARKER = "<!-- hookwise:{kind}:{key} -->"

SYSTEM = (
    "You review pull requests. Point out bugs, security problems and clear mistakes; skip "
    "style nits. Anchor each comment to a line number shown at the left of the diff (lines "
    "starting with + or a space). Be brief and concrete."
)

REVIEW_TOOL = Tool(
    name="submit_review",
    description="Submit the review of the pull request.",
    input_schema={
        "type": "object",
        "required": ["summary", "comments"],
        "properties": {
            "summary": {"type": "string", "description": "Two to five sentences overall."},
            "comments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "line", "body"],
                    "properties": {
                        "path": {"type": "string"},
                        "line": {"type": "integer"},
                        "body": {"type": "string"},
                        "severity": {"type": "string", "enum": ["info", "warning", "error"]},
                    },
                },
            },
        },
    },
)


@dataclass(frozen=True)
class Changed:
    path: str
    patch: str


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def clip(text: str, limit: int = MAX_BODY) -> str:
    return limits.cut(text, limit)


def reviewable(files: list[Mapping[str, Any]], ignores: Any) -> list[Changed]:
    """Text files with a diff of sensible size that the repository does not ask us to skip."""
    return [
        Changed(f["filename"], f["patch"])
        for f in files
        if f.get("patch") and len(f["patch"]) <= MAX_PATCH_CHARS and not ignores(f["filename"])
    ]


def prompt_for(pr: Mapping[str, Any], files: list[Changed]) -> tuple[str, list[Changed]]:
    """The prompt, and the files that fitted in the budget."""
    description = (pr.get("body") or "")[:4000]
    head = f"Pull request #{pr['number']}: {pr.get('title') or ''}\n\n{description}"
    parts, sent, used = [head], [], estimate_tokens(head)
    for changed in files:
        section = f"\n\n### {changed.path}\n```diff\n{numbered(changed.patch)}\n```"
        cost = estimate_tokens(section)
        if used + cost > INPUT_BUDGET_TOKENS:
            continue
        parts.append(section)
        sent.append(changed)
        used += cost
    skipped = len(files) - len(sent)
    if skipped:
        parts.append(f"\n\n({skipped} more files were left out for size.)")
    return "".join(parts), sent


def anchored(comments: list[dict[str, Any]], files: list[Changed]) -> list[dict[str, Any]]:
    """Only comments on lines GitHub will accept: one stray anchor fails the whole review."""
    lines = {f.path: commentable_lines(f.patch) for f in files}
    return [
        {"path": c["path"], "line": c["line"], "side": "RIGHT", "body": clip(c["body"], 8000)}
        for c in comments
        if c["line"] in lines.get(c["path"], ())
    ]


async def changed_files(
    api: GitHubAPI, repo: str, number: int, *, since: str | None, head: str
) -> list[Mapping[str, Any]]:
    if since is not None and since != head:
        compared = await api.getitem(f"/repos/{repo}/compare/{since}...{head}")
        return list(compared.get("files") or [])
    return [f async for f in api.getiter(f"/repos/{repo}/pulls/{number}/files?per_page=100")]


@router.register("github", "pull_request", "opened")
@router.register("github", "pull_request", "ready_for_review")
@router.register("github", "pull_request", "synchronize")
async def review_pull_request(event: HandlerContext) -> None:
    app, payload = event.app, event.payload
    pr = payload["pull_request"]
    if app.github is None or app.model is None or "installation" not in payload:
        return
    if pr.get("draft") or (pr.get("user") or {}).get("type") == "Bot":
        return
    if is_own_event(payload, app.github.identity):
        return
    repo, number, head = payload["repository"]["full_name"], pr["number"], pr["head"]["sha"]
    api = await app.github.installation_api(payload["installation"]["id"])
    config = await app.configs.load(api, app.settings, repo=repo, sha=head)
    if not config.review:
        return
    stored = await reviews.pull_request(event.conn, pr["id"])
    if stored is None or await reviews.status(event.conn, stored["id"], head) == "posted":
        return
    skip = Review(pull_request_id=stored["id"], head_sha=head, status="skipped")
    if await reviews.tokens_today(event.conn, stored["repository_id"]) >= config.daily_token_budget:
        await reviews.record(event.conn, replace(skip, error="daily token budget reached"))
        return
    since = None
    if payload.get("action") == "synchronize":
        since = await reviews.last_posted_sha(event.conn, stored["id"])
    changed = await changed_files(api, repo, number, since=since, head=head)
    files = reviewable(changed, config.ignores)
    prompt, sent = prompt_for(pr, files)
    if not sent:
        await reviews.record(event.conn, replace(skip, error="nothing reviewable changed"))
        return
    try:
        answer = await ask_once(
            event,
            "review",
            partial(
                app.model.ask,
                model=config.model,
                max_tokens=config.max_tokens,
                system=SYSTEM,
                prompt=prompt,
                tool=REVIEW_TOOL,
            ),
        )
    except UnusableAnswer as exc:
        event.log.warning("review of %s#%d: unusable answer: %s", repo, number, exc)
        await reviews.record(
            event.conn,
            replace(
                skip,
                status="failed",
                error=f"unusable model answer: {exc}",
                input_tokens=exc.input_tokens,
                output_tokens=exc.output_tokens,
                cost_usd=app.model.cost(exc.input_tokens, exc.output_tokens),
            ),
        )
        return
    comments = anchored(answer.input["comments"], sent)
    key = f"{repo}#{number}@{head}"
    body = clip(f"{answer.input['summary']}\n\n{MARKER.format(kind='review', key=key)}")
    request = {"commit_id": head, "body": body, "event": "COMMENT", "comments": comments}

    async def post_review() -> str:
        posted = await api.post(f"/repos/{repo}/pulls/{number}/reviews", data=request)
        return str(posted["id"])

    async def find_review() -> str | None:
        marker = MARKER.format(kind="review", key=key)
        async for earlier in api.getiter(f"/repos/{repo}/pulls/{number}/reviews"):
            if marker in (earlier.get("body") or ""):
                return str(earlier["id"])
        return None

    review_id = await perform(
        app.pool,
        Action("github.review", key, target=f"{repo}#{number}"),
        event_id=event.event.id,
        request=request,
        create=post_review,
        find=find_review,
    )
    await summary_comment(event, api, repo, number, head, answer.input["summary"], len(comments))
    await reviews.record(
        event.conn,
        replace(
            skip,
            status="posted",
            github_review_id=int(review_id),
            summary=answer.input["summary"],
            comments=comments,
            model=answer.model,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=answer.cost_usd,
            error=None,
        ),
    )


async def summary_comment(
    event: HandlerContext,
    api: GitHubAPI,
    repo: str,
    number: int,
    head: str,
    summary: str,
    comment_count: int,
) -> None:
    """One comment per PR, rewritten for each reviewed commit."""
    key = f"{repo}#{number}"
    body = clip(
        f"**hookwise review** of {head[:7]}: {comment_count} comment"
        f"{'' if comment_count == 1 else 's'}.\n\n{summary}\n\n"
        f"{MARKER.format(kind='summary', key=key)}"
    )

    async def create() -> str:
        posted = await api.post(f"/repos/{repo}/issues/{number}/comments", data={"body": body})
        return str(posted["id"])

    async def update(comment_id: str) -> None:
        await api.patch(f"/repos/{repo}/issues/comments/{comment_id}", data={"body": body})

    async def find() -> str | None:
        marker = MARKER.format(kind="summary", key=key)
        async for comment in api.getiter(f"/repos/{repo}/issues/{number}/comments"):
            if marker in (comment.get("body") or ""):
                return str(comment["id"])
        return None

    await perform(
        event.app.pool,
        Action("github.summary_comment", key, target=key),
        event_id=event.event.id,
        request={"body": body},
        create=create,
        update=update,
        find=find,
    )

"""AI review of a pull request: one review per head commit, comments only on lines in the diff.

The workflow hookwise.review, started on opened, ready_for_review and synchronize (not drafts,
not bots; defined in app/workflows/builtins.py). On synchronize only the pull request's own
changes since the last reviewed commit are sent: the whole pull request when that commit is no
ancestor of the head (a rebase, a force push) or the base branch came in (merged into the
head), since a diff between the two commits would then carry the base branch's changes, which
are not the PR's and whose lines GitHub refuses in its review; and when 300 files or more
changed, past what GitHub lists of a comparison. Comments are kept to lines of
the PR's own diff. Posts go through outbound_actions (post_once), so nothing is posted twice;
the summary comment is updated in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from app import github_limits as limits
from app.analysis.diff import commentable_lines, numbered
from app.clients.anthropic import Answer, Tool, UnusableAnswer
from app.clients.github_port import RepoPort
from app.outbound import Action, post_once
from app.reactions import placing
from app.reactions.answers import ask_once
from app.reactions.context import ReactionContext
from app.store import reviews
from app.store.reviews import Review

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


def anchored(
    comments: list[dict[str, Any]], files: list[Changed], pull: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Only comments on lines GitHub will accept, those shown to the model that are also in the
    pull request's diff (`pull`: its files): one stray anchor fails the whole review."""
    shown = {f.path: commentable_lines(f.patch) for f in files}
    own = {f["filename"]: commentable_lines(f.get("patch") or "") for f in pull}
    return [
        {"path": c["path"], "line": c["line"], "side": "RIGHT", "body": clip(c["body"], 8000)}
        for c in comments
        if c["line"] in shown.get(c["path"], ()) and c["line"] in own.get(c["path"], ())
    ]


@dataclass(frozen=True)
class Scope:
    """What to review: `files` as GitHub lists them; `pull`, the PR's whole diff; `why`, for
    the execution's steps."""

    files: list[Mapping[str, Any]]
    pull: list[Mapping[str, Any]]
    why: str


async def changed_files(
    github: RepoPort, number: int, *, since: str | None, head: str, base: str | None
) -> Scope:
    """The PR's own changes since `since` (the last reviewed head), or the whole PR.

    `base`: the base branch (its name: its tip now). GitHub's compare A...B diffs B against the
    merge base of A and B, so since...head is the PR's own work only when `since` is an ancestor
    of `head` (status `ahead`) and the PR's merge base with the base branch is where it was (it
    moves when the base branch is merged into the head). GitHub lists 300 files of a
    comparison at most and says nothing when it cuts there: a push of 300 files or more is
    reviewed as the whole pull request (listed up to 3,000 files), so no file of it goes
    unseen."""
    pull = await github.pull_files(number)
    if since is None or since == head:
        return Scope(pull, pull, "the whole pull request")
    compared = await github.compare(since, head)
    if compared.get("status") != "ahead":
        return Scope(pull, pull, f"the whole pull request: {since[:7]} is not in its history")
    if limits.may_be_cut(compared.get("files") or (), limits.COMPARE_FILES):
        why = (
            f"the whole pull request: {limits.COMPARE_FILES} files or more changed since "
            f"{since[:7]}, past what GitHub lists of a comparison"
        )
        return Scope(pull, pull, why)
    if base is not None:
        then = (await github.compare(base, since)).get("merge_base_commit") or {}
        now = (await github.compare(base, head)).get("merge_base_commit") or {}
        if then.get("sha") != now.get("sha"):
            return Scope(pull, pull, "the whole pull request: the base branch came in")
    own = {f["filename"] for f in pull}
    files = [f for f in compared.get("files") or () if f["filename"] in own]
    return Scope(files, pull, f"what changed since {since[:7]}")


async def run(ctx: ReactionContext, *, asked: bool = False) -> str:
    """Review the head commit the execution names; what happened, for its result. `asked`: a
    declared workflow's step asks for it, whatever `review:` says."""
    started = datetime.now(UTC)
    app, payload = ctx.app, ctx.payload
    pr = payload["pull_request"]
    assert app.model is not None
    repo, number, head = payload["repository"]["full_name"], pr["number"], pr["head"]["sha"]
    github = await ctx.github(repo)
    config = await ctx.repo_config(repo)
    if not config.review and not asked:
        return "review is off for this repository"
    stored = await reviews.pull_request(ctx.conn, pr["id"])
    if stored is None or await reviews.status(ctx.conn, stored.id, head) == "posted":
        return "reviewed already"
    skip = Review(pull_request_id=stored.id, head_sha=head, status="skipped", started_at=started)
    if await reviews.tokens_today(ctx.conn, stored.repository_id) >= config.daily_token_budget:
        await reviews.record(ctx.conn, replace(skip, error="daily token budget reached"))
        return "daily token budget reached"
    since = None
    if payload.get("action") == "synchronize":
        since = await reviews.last_posted_sha(ctx.conn, stored.id)
    # The branch, not the payload's base.sha: its tip now, whatever the payload saw.
    base = (pr.get("base") or {}).get("ref")
    scope = await changed_files(github, number, since=since, head=head, base=base)
    files = reviewable(scope.files, config.ignores)
    prompt, sent = prompt_for(pr, files)
    await ctx.step(
        "diff", f"{scope.why}: {len(scope.files)} files changed, {len(sent)} sent to the model"
    )
    if not sent:
        await reviews.record(ctx.conn, replace(skip, error="nothing reviewable changed"))
        return "nothing reviewable changed"

    async def paid(answer: Answer) -> None:
        # Counted now, not when the review is posted: GitHub may refuse it (an App installed
        # without pull_requests: write), and the daily budget must still see what was spent.
        spent = replace(
            skip,
            status="pending",
            model=answer.model,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=answer.cost_usd,
        )
        await reviews.record(ctx.conn, spent)

    try:
        answer = await ask_once(
            ctx,
            "review",
            partial(
                app.model.ask,
                model=config.model,
                max_tokens=config.max_tokens,
                system=SYSTEM,
                prompt=prompt,
                tool=REVIEW_TOOL,
            ),
            paid=paid,
        )
    except UnusableAnswer as exc:
        await ctx.step("model", f"unusable answer: {exc}", level="WARNING")
        await reviews.record(
            ctx.conn,
            replace(
                skip,
                status="failed",
                error=f"unusable model answer: {exc}",
                input_tokens=exc.input_tokens,
                output_tokens=exc.output_tokens,
                cost_usd=exc.cost_usd,
            ),
        )
        return f"unusable model answer: {exc}"
    comments = anchored(answer.input["comments"], sent, scope.pull)
    key = f"{repo}#{number}@{head}"
    marker = MARKER.format(kind="review", key=key)

    def body(note: str = "") -> str:
        # Cut before the marker, which finds the review again.
        text = clip(f"{answer.input['summary']}\n\n{note}".rstrip(), MAX_BODY - len(marker) - 2)
        return f"{text}\n\n{marker}"

    request = {"commit_id": head, "body": body(), "event": "COMMENT", "comments": comments}
    refused: list[Mapping[str, Any]] = []

    async def create() -> str:
        review_id, left_out = await placing.create_review(github, number, request, body_for=body)
        refused.extend(left_out)
        return review_id

    review_id = await post_once(
        app.pool,
        Action("github.review", key, target=f"{repo}#{number}"),
        event_id=ctx.event_id,
        request=request,
        create=create,
        find=lambda: github.find_review(number, marker),
    )
    placed = len(comments) - len(refused)
    note = f" ({placing.refused_note(refused)})" if refused else ""
    await ctx.step("review", f"review {review_id} posted with {placed} comments{note}")
    await summary_comment(ctx, github, number, head, answer.input["summary"], placed)
    await reviews.record(
        ctx.conn,
        replace(
            skip,
            status="posted",
            github_review_id=int(review_id),
            feedback=answer.input["summary"],
            decision=request["event"],
            comments=[c for c in comments if c not in refused],
            # Its tokens and cost were recorded when the answer came (paid above).
            model=answer.model,
            error=None,
        ),
    )
    return f"review {review_id} posted"


async def record_failure(ctx: ReactionContext, reason: str) -> None:
    """A permanent failure, where the admin and reviews show it."""
    pr = ctx.payload["pull_request"]
    stored = await reviews.pull_request(ctx.conn, pr["id"])
    if stored is not None:
        await reviews.record(
            ctx.conn,
            Review(
                pull_request_id=stored.id,
                head_sha=pr["head"]["sha"],
                status="failed",
                error=reason,
            ),
        )


async def summary_comment(
    ctx: ReactionContext,
    github: RepoPort,
    number: int,
    head: str,
    summary: str,
    comment_count: int,
) -> None:
    """One comment per PR, rewritten for each reviewed commit."""
    key = f"{github.repo}#{number}"
    marker = MARKER.format(kind="summary", key=key)
    body = clip(
        f"**hookwise review** of {head[:7]}: {comment_count} comment"
        f"{'' if comment_count == 1 else 's'}.\n\n{summary}\n\n{marker}"
    )
    await post_once(
        ctx.app.pool,
        Action("github.summary_comment", key, target=key),
        event_id=ctx.event_id,
        request={"body": body},
        create=lambda: github.create_comment(number, body),
        update=lambda comment_id: github.update_comment(comment_id, body),
        find=lambda: github.find_comment(number, marker),
    )

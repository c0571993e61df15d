"""The built-in actions a declared workflow's steps name. Each returns what it did, for the
execution's log; each remote effect goes through outbound_actions (post_once) keyed by the
execution and the step, so a retried or replayed execution never repeats one.

The AI review, the failure analysis and Linear's sync are hookwise's own reactions
(app/reactions/review.py, fix.py, linear.py), called with a payload shaped as theirs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app import github_limits as limits
from app.clients.errors import Refused, RemoteError
from app.clients.github import GitHubAPI
from app.clients.github_port import RepoPort
from app.outbound import Action, post_once
from app.reactions import fix, linear, review
from app.reactions.context import ReactionContext
from app.workflows.conditions import Facts
from app.workflows.globs import any_match
from app.workflows.spec import TEMPLATES, Step

MARKER = "<!-- hookwise:workflow:{key} -->"


class NotPossible(Refused):
    """A step that cannot do what it says here (no model configured, no check run to
    analyse): refused, so its failure policy decides what follows."""

    def __init__(self, reason: str) -> None:
        RemoteError.__init__(self, "hookwise", reason)
        self.status = 0
        self.reason = reason


@dataclass(frozen=True)
class StepRun:
    """What a step gets: the execution's context, the repository, and the pull request as it
    stood when the execution began (None for a repository's steps)."""

    ctx: ReactionContext
    api: GitHubAPI
    github: RepoPort
    repo: str
    index: int
    step: Step
    pr: Mapping[str, Any] | None = None
    facts: Facts | None = None
    linked: tuple[str, ...] = ()

    @property
    def number(self) -> int:
        assert self.pr is not None
        return int(self.pr["number"])

    def action(self, kind: str, *, key: str | None = None) -> Action:
        own = key or f"{self.ctx.execution.id}:{self.index}"
        target = f"{self.repo}#{self.pr['number']}" if self.pr else self.repo
        return Action(f"github.{kind}", f"wf:{own}", target=target)

    async def once(
        self, kind: str, request: Any, create: Callable[[], Awaitable[str]], **more: Any
    ) -> str:
        """post_once of this step's action (or `action=` given), keyed by execution and step."""
        return await post_once(
            self.ctx.app.pool,
            more.pop("action", None) or self.action(kind),
            event_id=self.ctx.event_id,
            request=request,
            create=create,
            **more,
        )


def fields(pr: Mapping[str, Any], workflow: str) -> dict[str, Any]:
    """What a comment template may use (spec.TEMPLATE_FIELDS)."""
    return {
        "title": pr.get("title") or "",
        "number": pr.get("number"),
        "author": (pr.get("user") or {}).get("login") or "",
        "author_association": pr.get("author_association") or "",
        "base_branch": (pr.get("base") or {}).get("ref") or "",
        "head_branch": (pr.get("head") or {}).get("ref") or "",
        "url": pr.get("html_url") or "",
        "repository": ((pr.get("base") or {}).get("repo") or {}).get("full_name") or "",
        "labels": [label["name"] for label in pr.get("labels") or ()],
        "draft": bool(pr.get("draft")),
        "changed_files": pr.get("changed_files"),
        "additions": pr.get("additions"),
        "deletions": pr.get("deletions"),
        "workflow": workflow,
    }


def render(template: str, values: Mapping[str, Any]) -> str:
    return TEMPLATES.from_string(template).render(**values)


async def add_labels(run: StepRun, labels: list[str]) -> str:
    have = set(run.facts.labels or ()) if run.facts else set()
    missing = [label for label in labels if label not in have]
    if not missing:
        return f"labels {', '.join(labels)} present already"

    async def create() -> str:
        return ",".join(await run.github.add_labels(run.number, missing))

    await run.once("labels_add", {"labels": missing}, create)
    return f"labelled {', '.join(missing)}"


async def remove_labels(run: StepRun, labels: list[str]) -> str:
    have = set(run.facts.labels or ()) if run.facts else set()
    present = [label for label in labels if label in have]
    if not present:
        return f"labels {', '.join(labels)} absent already"
    for label in present:

        async def create(label: str = label) -> str:
            await run.github.remove_label(run.number, label)
            return label

        key = f"{run.ctx.execution.id}:{run.index}:{label}"
        action = run.action("labels_remove", key=key)
        await run.once("labels_remove", {"label": label}, create, action=action)
    return f"unlabelled {', '.join(present)}"


async def comment(run: StepRun, args: Mapping[str, Any]) -> str:
    assert run.pr is not None
    key = f"{run.ctx.execution.id}:{run.index}"
    marker = MARKER.format(key=key)
    text = render(args["body"], fields(run.pr, str(run.ctx.payload.get("workflow"))))
    body = limits.cut(f"{text}\n\n{marker}", limits.COMMENT_BODY)
    comment_id = await run.once(
        "comment",
        {"body": body},
        lambda: run.github.create_comment(run.number, body),
        find=lambda: run.github.find_comment(run.number, marker),
    )
    return f"comment {comment_id} posted"


async def request_reviewers(run: StepRun, args: Mapping[str, Any]) -> str:
    assert run.pr is not None
    author = ((run.pr.get("user") or {}).get("login") or "").lower()
    # GitHub refuses (422) a review request of the PR's own author.
    people = [login for login in args["reviewers"] if login.lower() != author]
    teams = list(args["teams"])
    if not people and not teams:
        return "nobody to ask but the author"

    async def create() -> str:
        await run.github.request_reviewers(run.number, people, teams)
        return ",".join(people + [f"team:{t}" for t in teams])

    await run.once("reviewers", {"reviewers": people, "team_reviewers": teams}, create)
    return f"review requested of {', '.join(people + teams)}"


async def assign(run: StepRun, logins: list[str]) -> str:
    assert run.pr is not None
    author = (run.pr.get("user") or {}).get("login") or ""
    who = [author if login == "@author" else login for login in logins]

    async def create() -> str:
        await run.github.add_assignees(run.number, who)
        return ",".join(who)

    await run.once("assignees", {"assignees": who}, create)
    return f"assigned {', '.join(who)}"


def gate_reasons(args: Mapping[str, Any], pr: Mapping[str, Any], facts: Facts) -> list[str]:
    """Why the quality gate fails; none: it passes. Pure."""
    reasons = []
    lines, count = facts.line_count() or 0, facts.file_count() or 0
    if args.get("max_lines_changed") is not None and lines > args["max_lines_changed"]:
        reasons.append(f"{lines} lines changed, at most {args['max_lines_changed']} allowed")
    if args.get("max_files_changed") is not None and count > args["max_files_changed"]:
        reasons.append(f"{count} files changed, at most {args['max_files_changed']} allowed")
    forbidden = sorted(
        name for name in facts.paths() or () if any_match(name, args.get("forbidden_paths") or ())
    )
    if forbidden:
        reasons.append(f"changes forbidden paths: {', '.join(forbidden[:20])}")
    listed = len(facts.files or ())
    if args.get("forbidden_paths") and count > listed:
        # GitHub lists 3,000 files at most: what is past them cannot be shown clean, and a PR
        # padded with harmless files must not carry a forbidden one past the gate.
        reasons.append(
            f"{count} files changed, GitHub lists {listed}: the rest cannot be checked for "
            "forbidden paths"
        )
    if args.get("require_linked_issue") and not facts.linked_issue:
        reasons.append("no linked Linear issue (name one, e.g. `Fixes ENG-123`)")
    if args.get("require_description") and not (facts.description or "").strip():
        reasons.append("the description is empty")
    pattern = args.get("title_pattern")
    if pattern and not re.search(pattern, facts.title or ""):
        reasons.append(f"the title does not match `{pattern}`")
    return reasons


async def quality_gate(run: StepRun, args: Mapping[str, Any]) -> str:
    """A check run on the head commit: success, or failure with each reason. One per gate
    and head commit, updated in place when the PR changes without a new commit."""
    assert run.pr is not None and run.facts is not None
    reasons = gate_reasons(args, run.pr, run.facts)
    head = run.pr["head"]["sha"]
    name = limits.cut(f"hookwise / {args['name']}", limits.CHECK_NAME, "…")
    title = (
        "passed" if not reasons else f"{len(reasons)} rule{'s' if len(reasons) > 1 else ''} failed"
    )
    summary = "\n".join(f"- {r}" for r in reasons) or "Every rule of this gate holds."
    request = {
        "name": name,
        "head_sha": head,
        "status": "completed",
        "conclusion": "failure" if reasons else "success",
        "output": limits.check_output(title, summary),
    }
    changes = {k: v for k, v in request.items() if k != "head_sha"}
    gate_key = f"{run.repo}#{run.number}@{head}:{args['name']}"
    await run.once(
        "quality_gate",
        request,
        lambda: run.github.create_check_run(request),
        update=lambda check_id: run.github.update_check_run(check_id, changes),
        action=run.action("quality_gate", key=gate_key),
    )
    return f"{name}: {request['conclusion']}" + (f" ({'; '.join(reasons)})" if reasons else "")


def _as_pull_event(run: StepRun, action: str = "opened") -> dict[str, Any]:
    payload = run.ctx.payload["payload"]
    return {
        "action": action,
        "number": run.number,
        "pull_request": run.pr,
        "repository": payload["repository"],
        "installation": payload["installation"],
        "sender": payload.get("sender") or {},
    }


async def ai_review(run: StepRun, args: Any) -> str:
    if run.ctx.app.model is None:
        raise NotPossible("ai_review needs the model: ANTHROPIC_API_KEY is not set")
    ctx = replace(run.ctx, payload=_as_pull_event(run))
    return await review.run(ctx, asked=True)


async def analyse_failure(run: StepRun, args: Any) -> str:
    if run.ctx.app.model is None:
        raise NotPossible("analyse_failure needs the model: ANTHROPIC_API_KEY is not set")
    payload = run.ctx.payload["payload"]
    if "check_run" not in payload:
        raise NotPossible("analyse_failure needs a check_run event")
    return await fix.run_analysis(replace(run.ctx, payload=payload), asked=True)


async def tell_linear(run: StepRun, args: Any) -> str:
    if run.ctx.app.linear is None:
        raise NotPossible("tell_linear needs Linear: LINEAR_API_KEY is not set")
    assert run.pr is not None
    closing = run.pr.get("state") == "closed"
    payload = {"pull_request_github_id": run.pr["id"], "closing": closing}
    return await linear.run(replace(run.ctx, payload=payload))


async def close_stale(run: StepRun, args: Mapping[str, Any]) -> str:
    """Close open pull requests not updated for `days` days (none with an exempt label),
    each with the comment first when one is given."""
    cutoff = datetime.now(UTC) - timedelta(days=args["days"])
    closed = []
    for pr in await run.github.open_pulls():
        updated = datetime.fromisoformat(str(pr["updated_at"]).replace("Z", "+00:00"))
        names = {label["name"] for label in pr.get("labels") or ()}
        if updated >= cutoff or names & set(args.get("labels_absent") or ()):
            continue
        number = int(pr["number"])
        key = f"{run.repo}#{number}@{pr['updated_at']}"
        if args.get("comment"):
            text = render(args["comment"], fields(pr, str(run.ctx.payload.get("workflow"))))
            marker = MARKER.format(key=f"stale:{key}")
            body = limits.cut(f"{text}\n\n{marker}", limits.COMMENT_BODY)

            async def notice(n: int = number, b: str = body) -> str:
                return await run.github.create_comment(n, b)

            async def earlier(n: int = number, m: str = marker) -> str | None:
                return await run.github.find_comment(n, m)

            await run.once(
                "comment",
                {"body": body},
                notice,
                find=earlier,
                action=run.action("comment", key=f"stale:{key}"),
            )

        async def create(n: int = number) -> str:
            await run.github.close_pull(n)
            return str(n)

        await run.once(
            "close_pull", {"state": "closed"}, create, action=run.action("close_pull", key=key)
        )
        closed.append(f"#{number}")
    return f"closed {', '.join(closed)}" if closed else "no stale pull requests"


ACTIONS: dict[str, Callable[[StepRun, Any], Awaitable[str]]] = {
    "add_labels": add_labels,
    "remove_labels": remove_labels,
    "comment": comment,
    "request_reviewers": request_reviewers,
    "assign": assign,
    "quality_gate": quality_gate,
    "ai_review": ai_review,
    "analyse_failure": analyse_failure,
    "tell_linear": tell_linear,
    "close_stale": close_stale,
}

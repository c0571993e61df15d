"""Run one execution of a declared workflow: the runner's (app/reactions/runner.py) `run` for
every workflow a hookwise.yml declares.

The pull request is read as it stands; a slash command's author must have write access; the
conditions the event's transaction could not decide (changed paths, size, labels …) are
decided now, and one that does not hold ends the execution as skipped, with the reason; one
that cannot be decided even now (changed paths past GitHub's 3,000-file listing) fails it,
with the reason, and no step runs. Then
the steps run in order, each logged in execution_logs. A step refused (GitHub's 4xx, a step not
possible here) stops the workflow, or with `on_failure: continue` is logged and the next runs;
a rate limit or an outage fails the attempt, which the runner reschedules or retries, and the
steps done already are not repeated (outbound_actions).
"""

from __future__ import annotations

from typing import Any

from app.clients.errors import Refused, classify
from app.clients.github_port import port
from app.reactions.context import ReactionContext
from app.store import links
from app.workflows.conditions import Facts, evaluate
from app.workflows.spec import Workflow
from app.workflows.steps import ACTIONS, StepRun

WRITE = frozenset({"admin", "maintain", "write"})


class Skipped(Exception):
    """The execution has nothing to do: a condition does not hold, or who asked may not."""


class Undecided(Exception):
    """A condition that what GitHub shows cannot decide (app/workflows/conditions.Unknown): the
    execution runs no step and fails with the reason, neither run nor skipped on a guess."""


def needs_files(workflow: Workflow) -> bool:
    return workflow.if_.needs_files() or any(
        step.action == "quality_gate" for step in workflow.steps
    )


def needs_links(workflow: Workflow) -> bool:
    return workflow.if_.linked_issue is not None or any(
        step.action == "quality_gate" and step.args.get("require_linked_issue")
        for step in workflow.steps
    )


async def run(ctx: ReactionContext) -> str:
    data = ctx.payload
    workflow = Workflow.model_validate(data["definition"])
    app = ctx.app
    assert app.github is not None
    api = await app.github.installation_api(data["installation"])
    repo = data["repo"]
    github = port(api, repo)
    if data.get("number") is None:
        return await steps(ctx, workflow, lambda i, s: StepRun(ctx, api, github, repo, i, s))
    pr = await github.pull(int(data["number"]))
    if data["event"] == "issue_comment":
        await may_command(ctx, github, data["payload"])
    files = await github.pull_files(int(data["number"])) if needs_files(workflow) else None
    linked: tuple[str, ...] = ()
    if needs_links(workflow) and ctx.execution.pull_request_id is not None:
        found = await links.linked(ctx.conn, ctx.execution.pull_request_id)
        linked = tuple(link.identifier for link in found if link.removed_at is None)
    listed, moved = Facts.of_files(files) if files is not None else (None, ())
    facts = Facts.of_pull(
        pr, linked_issue=bool(linked), files=listed, moved_from=moved, size=Facts.size_of(pr)
    )
    verdict = evaluate(workflow.if_, facts)
    if verdict.holds is False:
        raise Skipped(verdict.reason)
    if verdict.holds is None:
        raise Undecided(verdict.reason)
    if not workflow.if_.empty():
        await ctx.step("conditions", "every condition holds")
    return await steps(
        ctx,
        workflow,
        lambda i, s: StepRun(ctx, api, github, repo, i, s, pr=pr, facts=facts, linked=linked),
    )


async def may_command(ctx: ReactionContext, github: Any, payload: Any) -> None:
    """Only someone with write access may run a workflow by a comment (GitHub's permission
    of the commenter on the repository)."""
    login = ((payload.get("comment") or {}).get("user") or {}).get("login") or ""
    permission = await github.permission(login)
    if permission not in WRITE:
        command = ((payload.get("comment") or {}).get("body") or "").strip().splitlines()[0]
        raise Skipped(f"{login} may not run {command}: {permission} access, write needed")
    await ctx.step("command", f"{login} has {permission} access")


async def steps(ctx: ReactionContext, workflow: Workflow, make: Any) -> str:
    done, failed = 0, []
    for index, step in enumerate(workflow.steps):
        name = f"{index + 1}. {step.title}"
        try:
            said = await ACTIONS[step.action](make(index, step), step.args)
        except Exception as exc:
            error = classify(exc)
            if not isinstance(error, Refused):
                raise
            if step.on_failure == "continue":
                await ctx.step(name, f"failed, continuing: {error}", level="ERROR")
                failed.append(step.title)
                continue
            await ctx.step(name, f"failed, stopping: {error}", level="ERROR")
            raise error from exc
        await ctx.step(name, said)
        done += 1
    summary = f"{done} of {len(workflow.steps)} steps done"
    return summary + (f"; failed: {', '.join(failed)}" if failed else "")

"""The state side of workflows: inside an event's transaction, with no network call, which
workflows the event starts — hookwise's own (builtins.py) and those declared — and when the
declared files are read again.

A workflow whose `on:` names the event and whose `if:` does not fail on what the payload and
the stored rows say starts one execution, keyed `wf:<workflow>:<pull request>:<delivery>`: a
redelivered or replayed event, or a second worker, starts nothing new. Conditions only GitHub
answers (changed paths, size; labels and association where the payload lacks them) are left
to the execution, which ends as skipped when one does not hold. Our own App's events start
nothing (a label we add must not start the workflow that added it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, get_args
from uuid import UUID

from app.router import HandlerContext, Router
from app.store import analyses, declared, executions, links, reviews
from app.store.declared import Stored
from app.store.executions import Start
from app.workflows.builtins import BUILTINS, Builtin, Subject, our_own, ours_only, subject_of
from app.workflows.conditions import Facts, evaluate, triggered
from app.workflows.spec import PATH, CheckRunAction, PullRequestAction, Workflow

router = Router()

SYNC = "hookwise.workflows_sync"
CHECK = "hookwise.workflows_check"


def manual_key(workflow: Stored, pull_request_id: UUID, asked: str) -> str:
    return f"wf:{workflow.id}:{pull_request_id}:manual:{asked}"


def trigger_data(
    workflow: Stored,
    *,
    event: str,
    payload: Mapping[str, Any],
    repo: str,
    number: int | None,
    installation: int,
    deferred: str = "",
) -> dict[str, Any]:
    """What the execution works from: the definition as it was when the event came (a later
    edit of the file does not change a run already started), the event, and its payload."""
    return {
        "workflow": workflow.declared_name,
        "definition": workflow.definition,
        "file": workflow.config.get("file"),
        "event": event,
        "repo": repo,
        "number": number,
        "installation": installation,
        "deferred": deferred,
        "payload": payload,
    }


async def _pull_for(ctx: HandlerContext, name: str) -> tuple[UUID, Facts] | None:
    """The stored pull request the event is about, and what the transaction knows of it."""
    payload, conn = ctx.payload, ctx.conn
    pr = payload.get("pull_request")
    if name in ("pull_request", "pull_request_review") and isinstance(pr, Mapping):
        stored = await reviews.pull_request(conn, pr["id"])
        if stored is None:
            return None
        return stored.id, Facts.of_pull(pr)
    if name == "check_run":
        run = await analyses.check_run(conn, payload["check_run"]["id"])
        pull_request_id = None if run is None else run.pr_id
    elif name == "issue_comment":
        number = (payload.get("issue") or {}).get("number")
        if number is None:
            return None
        pull_request_id = await declared.pull_by_number(
            conn, payload["repository"]["id"], int(number)
        )
    else:
        return None
    if pull_request_id is None:
        return None
    row = await declared.pull(conn, pull_request_id)
    if row is None:
        return None
    facts = Facts(
        title=row.title or "",
        author=row.author,
        draft=row.draft,
        base_branch=row.base_branch,
        head_branch=row.head_branch,
        description=row.body or "",
    )
    return pull_request_id, facts


async def start_workflows(ctx: HandlerContext) -> None:
    """Every workflow the event starts: hookwise's own (builtins.py), then those declared."""
    for builtin in BUILTINS:
        await start_builtin(ctx, builtin)
    if ctx.event.source != "github":
        return
    if ctx.event.event_type == "pull_request":
        await start_fork_check(ctx)
    await start_declared(ctx)


# By action, never for every action of an event: the router runs an event's handlers for every
# action before those for its action, and these must run after each state handler (links are
# rebuilt by action-specific ones) to read what the event's transaction wrote.
STARTS_ON = (
    *[("github", "pull_request", action) for action in get_args(PullRequestAction)],
    *[("github", "check_run", action) for action in get_args(CheckRunAction)],
    ("github", "pull_request_review", "submitted"),
    ("github", "issue_comment", "created"),
    ("linear", "Issue", "create"),
    ("linear", "Issue", "update"),
    ("linear", "Issue", "remove"),
)
for _source, _event, _action in STARTS_ON:
    router.add(start_workflows, _source, _event, _action)


async def start_builtin(ctx: HandlerContext, builtin: Builtin) -> None:
    """One of hookwise's own workflows, matched and keyed as builtins.py defines it. Its
    conditions are all decided by the payload (a built-in has no deferred condition)."""
    if not builtin.ready(ctx) or not builtin.triggered(ctx):
        return
    if not _may_react(ctx, builtin.own):
        return
    for subject in await builtin.subjects(ctx):
        await _start_one(ctx, builtin, subject)


async def _start_one(ctx: HandlerContext, builtin: Builtin, subject: Subject) -> None:
    verdict = evaluate(builtin.definition.if_, subject.facts)
    if verdict.holds is not True:
        ctx.log.debug("%s not started: %s", builtin.name, verdict.reason)
        return
    keyed = await builtin.keyed(ctx, subject)
    if keyed is None:
        return
    key, data = keyed
    started = await executions.start(
        ctx.conn,
        Start(
            workflow=builtin.name,
            key=key,
            subject=subject_of(subject.pull_request_id),
            subject_label=subject.label,
            payload=data,
            event_id=ctx.event.id,
            pull_request_id=subject.pull_request_id,
            installation_id=(ctx.payload.get("installation") or {}).get("id"),
        ),
    )
    if started is not None:
        ctx.log.info("started %s (%s) for %s", builtin.name, key, subject.label)


def _may_react(ctx: HandlerContext, own: str) -> bool:
    if own == "skip":
        return not our_own(ctx)
    if own == "only":
        return ours_only(ctx)
    return True


async def start_declared(ctx: HandlerContext) -> None:
    app, payload, name = ctx.app, ctx.payload, ctx.event.event_type
    if app.github is None or "installation" not in payload or "repository" not in payload:
        return
    found = await declared.for_event(
        ctx.conn, declared.scopes_of(payload["repository"]), trigger_type="event", event=name
    )
    wanted = [
        (stored, workflow)
        for stored in found
        if triggered((workflow := Workflow.model_validate(stored.definition)).on, name, payload)
    ]
    # Our own App's events start nothing (a label we add must not start the workflow that
    # added it); while who we are is not known, the event waits (builtins.our_own).
    if not wanted or our_own(ctx):
        return
    subject = await _pull_for(ctx, name)
    if subject is None:
        ctx.log.info("declared workflows: no stored pull request for this %s", name)
        return
    pull_request_id, facts = subject
    if any(workflow.if_.linked_issue is not None for _, workflow in wanted):
        linked = await links.linked(ctx.conn, pull_request_id)
        facts = replace(facts, linked_issue=any(link.removed_at is None for link in linked))
    repo = payload["repository"]["full_name"]
    number = await _number(ctx, pull_request_id)
    for stored, workflow in wanted:
        verdict = evaluate(workflow.if_, facts)
        if verdict.holds is False:
            ctx.log.info("%s not started: %s", stored.name, verdict.reason)
            continue
        await start(
            ctx,
            stored,
            key=f"wf:{stored.id}:{pull_request_id}:{ctx.event.delivery_id}",
            pull_request_id=pull_request_id,
            label=f"{repo}#{number}",
            data=trigger_data(
                stored,
                event=name,
                payload=payload,
                repo=repo,
                number=number,
                installation=payload["installation"]["id"],
                deferred=verdict.reason if verdict.holds is None else "",
            ),
        )


async def _number(ctx: HandlerContext, pull_request_id: UUID) -> int:
    row = await declared.pull(ctx.conn, pull_request_id)
    assert row is not None
    return int(row.pr_number)


async def start(
    ctx: HandlerContext,
    stored: Stored,
    *,
    key: str,
    pull_request_id: UUID | None,
    label: str,
    data: dict[str, Any],
    trigger_type: str = "event",
) -> None:
    started = await executions.start(
        ctx.conn,
        Start(
            workflow=stored.name,
            key=key,
            subject=subject_of(pull_request_id) if pull_request_id else f"wf:{stored.id}",
            subject_label=label,
            trigger_type=trigger_type,
            payload=data,
            event_id=ctx.event.id,
            pull_request_id=pull_request_id,
            installation_id=data["installation"],
        ),
    )
    if started is not None:
        ctx.log.info("started %s (%s) for %s", stored.name, key, label)


# Reading the files again


def touches_config(payload: Mapping[str, Any]) -> bool:
    """A push to the default branch that adds, changes or removes .github/hookwise.yml."""
    repository = payload.get("repository") or {}
    if payload.get("ref") != f"refs/heads/{repository.get('default_branch')}":
        return False
    for commit in payload.get("commits") or ():
        for kind in ("added", "modified", "removed"):
            if PATH in (commit.get(kind) or ()):
                return True
    head = payload.get("head_commit") or {}
    return any(PATH in (head.get(kind) or ()) for kind in ("added", "modified", "removed"))


async def start_sync(ctx: HandlerContext, repository: Mapping[str, Any], why: str) -> None:
    installation = (ctx.payload.get("installation") or {}).get("id")
    if ctx.app.github is None or installation is None:
        return
    payload = {
        "repository": {
            "id": repository["id"],
            "full_name": repository["full_name"],
            "default_branch": repository.get("default_branch"),
        },
        "installation": {"id": installation},
    }
    if ctx.payload.get("after"):
        payload["after"] = ctx.payload["after"]
    started = await executions.start(
        ctx.conn,
        Start(
            workflow=SYNC,
            key=f"sync:{repository['id']}:{why}:{ctx.event.delivery_id}",
            subject=f"repo:{repository['id']}",
            subject_label=repository["full_name"],
            payload=payload,
            event_id=ctx.event.id,
            installation_id=installation,
        ),
    )
    if started is not None:
        ctx.log.info("started %s for %s (%s)", SYNC, repository["full_name"], why)


@router.register("github", "push")
async def on_push(ctx: HandlerContext) -> None:
    if touches_config(ctx.payload):
        await start_sync(ctx, ctx.payload["repository"], "push")
    elif proposes_config(ctx.payload):
        await start_check(ctx, ctx.payload["repository"], head=ctx.payload["after"])


def proposes_config(payload: Mapping[str, Any]) -> bool:
    """A push to another branch of the repository (a pull request's, most often) whose
    commits add or change .github/hookwise.yml: its file is checked, never run."""
    repository = payload.get("repository") or {}
    ref = str(payload.get("ref") or "")
    if payload.get("deleted") or not ref.startswith("refs/heads/"):
        return False
    if ref == f"refs/heads/{repository.get('default_branch')}":
        return False
    commits = [*(payload.get("commits") or ()), payload.get("head_commit") or {}]
    return any(PATH in (c.get(kind) or ()) for c in commits for kind in ("added", "modified"))


def from_fork(pr: Mapping[str, Any]) -> bool:
    """A pull request whose head is another repository's (or a deleted fork's): no push of it
    reaches us, so its own events say when to look at what it proposes."""
    head = (pr.get("head") or {}).get("repo")
    base = (pr.get("base") or {}).get("repo") or {}
    return head is None or head.get("id") != base.get("id")


async def start_check(
    ctx: HandlerContext,
    repository: Mapping[str, Any],
    *,
    head: str,
    number: int | None = None,
    pull_request_id: UUID | None = None,
) -> None:
    """hookwise.workflows_check of `head` once, whether a push or a pull request asked."""
    installation = (ctx.payload.get("installation") or {}).get("id")
    if ctx.app.github is None or installation is None:
        return
    payload = {
        "repository": {"id": repository["id"], "full_name": repository["full_name"]},
        "installation": {"id": installation},
        "after": head,
        "number": number,
    }
    label = f"{repository['full_name']}@{head[:7]}"
    started = await executions.start(
        ctx.conn,
        Start(
            workflow=CHECK,
            key=f"check:{repository['id']}@{head}",
            subject=subject_of(pull_request_id) if pull_request_id else f"repo:{repository['id']}",
            subject_label=label,
            payload=payload,
            event_id=ctx.event.id,
            pull_request_id=pull_request_id,
            installation_id=installation,
        ),
    )
    if started is not None:
        ctx.log.info("started %s for %s", CHECK, label)


async def start_fork_check(ctx: HandlerContext) -> None:
    pr = ctx.payload["pull_request"]
    if ctx.event.action not in ("opened", "reopened", "synchronize") or not from_fork(pr):
        return
    stored = await reviews.pull_request(ctx.conn, pr["id"])
    await start_check(
        ctx,
        ctx.payload["repository"],
        head=pr["head"]["sha"],
        number=int(pr["number"]),
        pull_request_id=None if stored is None else stored.id,
    )


@router.register("github", "hookwise.backfill")
@router.register("github", "hookwise.reconcile")
async def on_survey(ctx: HandlerContext) -> None:
    """Each look at a repository reads its declared workflows again: a push missed while
    hookwise was away (or an App without the push ctx) is caught up."""
    await start_sync(ctx, ctx.payload["repository"], ctx.event.event_type)

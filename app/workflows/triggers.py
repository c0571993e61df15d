"""The state side of declared workflows: inside an event's transaction, with no network call,
which declared workflows the event starts, and when their files are read again.

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
from typing import Any
from uuid import UUID

from app.clients.github import is_own_event
from app.reactions.triggers import subject_of
from app.router import HandlerContext, Router
from app.store import analyses, declared, executions, links, reviews
from app.store.declared import Stored
from app.store.executions import Start
from app.workflows.conditions import Facts, evaluate, triggered
from app.workflows.spec import PATH, Workflow

router = Router()

SYNC = "hookwise.workflows_sync"


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


async def _pull_for(event: HandlerContext, name: str) -> tuple[UUID, Facts] | None:
    """The stored pull request the event is about, and what the transaction knows of it."""
    payload, conn = event.payload, event.conn
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
        pull_request_id = await declared.pull_by_number(conn, payload["repository"]["id"], number)
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


@router.register("github", "pull_request")
@router.register("github", "check_run", "completed")
@router.register("github", "pull_request_review", "submitted")
@router.register("github", "issue_comment", "created")
async def start_declared(event: HandlerContext) -> None:
    app, payload, name = event.app, event.payload, event.event.event_type
    if app.github is None or "installation" not in payload or "repository" not in payload:
        return
    if is_own_event(payload, app.github.identity):
        return
    found = await declared.for_event(
        event.conn, declared.scopes_of(payload["repository"]), trigger_type="event", event=name
    )
    wanted = [
        (stored, workflow)
        for stored in found
        if triggered((workflow := Workflow.model_validate(stored.definition)).on, name, payload)
    ]
    if not wanted:
        return
    subject = await _pull_for(event, name)
    if subject is None:
        event.log.info("declared workflows: no stored pull request for this %s", name)
        return
    pull_request_id, facts = subject
    if any(workflow.if_.linked_issue is not None for _, workflow in wanted):
        linked = await links.linked(event.conn, pull_request_id)
        facts = replace(facts, linked_issue=any(link.removed_at is None for link in linked))
    repo = payload["repository"]["full_name"]
    number = await _number(event, pull_request_id)
    for stored, workflow in wanted:
        verdict = evaluate(workflow.if_, facts)
        if verdict.holds is False:
            event.log.info("%s not started: %s", stored.name, verdict.reason)
            continue
        await start(
            event,
            stored,
            key=f"wf:{stored.id}:{pull_request_id}:{event.event.delivery_id}",
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


async def _number(event: HandlerContext, pull_request_id: UUID) -> int:
    row = await declared.pull(event.conn, pull_request_id)
    assert row is not None
    return int(row.pr_number)


async def start(
    event: HandlerContext,
    stored: Stored,
    *,
    key: str,
    pull_request_id: UUID | None,
    label: str,
    data: dict[str, Any],
    trigger_type: str = "event",
) -> None:
    started = await executions.start(
        event.conn,
        Start(
            workflow=stored.name,
            key=key,
            subject=subject_of(pull_request_id) if pull_request_id else f"wf:{stored.id}",
            subject_label=label,
            trigger_type=trigger_type,
            payload=data,
            event_id=event.event.id,
            pull_request_id=pull_request_id,
            installation_id=data["installation"],
        ),
    )
    if started is not None:
        event.log.info("started %s (%s) for %s", stored.name, key, label)


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


async def start_sync(event: HandlerContext, repository: Mapping[str, Any], why: str) -> None:
    installation = (event.payload.get("installation") or {}).get("id")
    if event.app.github is None or installation is None:
        return
    payload = {
        "repository": {
            "id": repository["id"],
            "full_name": repository["full_name"],
            "default_branch": repository.get("default_branch"),
        },
        "installation": {"id": installation},
    }
    if event.payload.get("after"):
        payload["after"] = event.payload["after"]
    started = await executions.start(
        event.conn,
        Start(
            workflow=SYNC,
            key=f"sync:{repository['id']}:{why}:{event.event.delivery_id}",
            subject=f"repo:{repository['id']}",
            subject_label=repository["full_name"],
            payload=payload,
            event_id=event.event.id,
            installation_id=installation,
        ),
    )
    if started is not None:
        event.log.info("started %s for %s (%s)", SYNC, repository["full_name"], why)


@router.register("github", "push")
async def on_push(event: HandlerContext) -> None:
    if touches_config(event.payload):
        await start_sync(event, event.payload["repository"], "push")


@router.register("github", "hookwise.backfill")
@router.register("github", "hookwise.reconcile")
async def on_survey(event: HandlerContext) -> None:
    """Each look at a repository reads its declared workflows again: a push missed while
    hookwise was away (or an App without the push event) is caught up."""
    await start_sync(event, event.payload["repository"], event.event.event_type)

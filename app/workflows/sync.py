"""hookwise.workflows_sync: read a repository's `.github/hookwise.yml` (and its owner's, which
declares installation-wide workflows) from the default branch, validate the `workflows:`, store
them, and show what was found in our check run on the default branch's head: each problem as
an annotation with its line, and the workflows that will run.

Started by a push to the default branch that touches the file, and by every backfill and
reconcile of the repository (app/workflows/triggers.py). Never the PR's head: a PR cannot
declare workflows for itself. What a pull request proposes is checked only
(hookwise.workflows_check, check_proposed): shown on its head, never stored or run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from app import github_limits as limits
from app.clients.errors import Refused, classify
from app.clients.github import GitHubAPI
from app.clients.github_port import port
from app.outbound import Action, post_once
from app.reactions.context import ReactionContext
from app.repo_config import read_file
from app.store import declared
from app.store.declared import Declaration
from app.store.pool import connection
from app.workflows.engine import Skipped
from app.workflows.spec import PATH, Declared, Problem, Workflow, parse

CHECK_NAME = "hookwise / workflows"
PROPOSED = (
    f"This pull request changes `{PATH}`: its workflows are checked here, never run. hookwise "
    "reads workflows from the default branch only, so they run once this is merged."
)
MAX_ANNOTATIONS = 50  # GitHub takes 50 annotations per request


def declarations(found: Declared, *, file: str) -> list[Declaration]:
    """The rows to store for one parsed file: good workflows with their triggers and actions,
    broken ones with their problems (stored inactive)."""
    rows = []
    for name, workflow in found.workflows.items():
        rows.append(
            Declaration(
                declared_name=name,
                description=workflow.description,
                definition=stored_form(workflow),
                file=file,
                line=found.lines.get(name, 1),
                triggers=triggers_of(workflow),
                actions=[
                    (step.action, step.title, {"args": step.args, "on_failure": step.on_failure})
                    for step in workflow.steps
                ],
                problems=[],
            )
        )
    for name in sorted(found.broken):
        rows.append(
            Declaration(
                declared_name=name,
                description="",
                definition=None,
                file=file,
                line=found.lines.get(name, 1),
                triggers=[],
                actions=[],
                problems=[str(p) for p in found.problems if p.workflow == name],
            )
        )
    return rows


def stored_form(workflow: Workflow) -> dict[str, Any]:
    return workflow.model_dump(mode="json", by_alias=True, exclude_none=True)


def triggers_of(workflow: Workflow) -> list[tuple[str, Mapping[str, Any]]]:
    on = workflow.on
    found: list[tuple[str, Mapping[str, Any]]] = []
    for event in on.events():
        spec = getattr(on, event)
        found.append(
            (
                "event",
                {
                    "source": "github",
                    "event": event,
                    "spec": spec.model_dump(mode="json") if hasattr(spec, "model_dump") else spec,
                },
            )
        )
    found += [("schedule", {"cron": cron}) for cron in on.schedule or ()]
    if on.manual:
        found.append(("manual", {}))
    return found


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "reason": problem.reason,
        "workflow": problem.workflow,
    }


async def run(ctx: ReactionContext) -> str:
    app, payload = ctx.app, ctx.payload
    assert app.github is not None
    repository = payload["repository"]
    repo, installation = repository["full_name"], payload["installation"]["id"]
    owner = repo.split("/", 1)[0]
    api = await app.github.installation_api(installation)
    owner_repo = f"{owner}/.github"
    sources = [(f"owner:{owner.lower()}", owner_repo, owner)]
    if repo.lower() != owner_repo.lower():
        sources.insert(0, (f"repo:{repository['id']}", repo, repo))
    found: dict[str, tuple[Declared, str]] = {}
    for scope, source, label in sources:
        parsed, file = await read(api, source)
        found[scope] = (parsed, file)
        async with connection(app.pool) as conn, conn.transaction():
            await declared.replace_scope(
                conn,
                scope=scope,
                label=label,
                full_name=source,
                installation_id=installation,
                path=PATH,
                declarations=declarations(parsed, file=file),
                problems=[problem_json(p) for p in parsed.problems],
            )
        await ctx.step(
            "read",
            f"{file}: {len(parsed.workflows)} workflows, {len(parsed.problems)} problems",
            workflows=sorted(parsed.workflows),
            problems=[str(p) for p in parsed.problems],
        )
    own, _ = found[sources[0][0]]
    problems = [p for parsed, _ in found.values() for p in parsed.problems]
    running = sorted({n for parsed, _ in found.values() for n in parsed.workflows})
    if not problems and not running:
        return "no workflows declared"
    await show(ctx, api, repo, payload, own, problems, running)
    owners, _ = found[sources[-1][0]]
    if len(sources) > 1 and owners.problems:
        await show_owners(ctx, api, owner_repo, owners)
    return f"{len(running)} workflows stored, {len(problems)} problems"


async def show_owners(
    ctx: ReactionContext, api: GitHubAPI, owner_repo: str, owners: Declared
) -> None:
    """The owner's file's problems as annotations on its own lines: an annotation belongs to a
    file of the repository whose commit the check run is on, so they go on the `.github`
    repository's default branch head (once per head and problems: post_once). Best effort: an
    installation without that repository gets them in the summary only, as said in the log."""
    github = port(api, owner_repo)
    try:
        head = (await github.tip(await github.default_branch()))["sha"]
        await show(
            ctx,
            api,
            owner_repo,
            {"after": head},
            owners,
            owners.problems,
            sorted(owners.workflows),
        )
    except Exception as exc:
        error = classify(exc)
        if not isinstance(error, Refused):
            raise  # a rate limit or an outage: the execution is rescheduled or retried
        await ctx.step("check", f"{owner_repo}: its problems not shown there: {error}")


async def read(api: GitHubAPI, repo: str) -> tuple[Declared, str]:
    """The repository's file on its default branch, parsed; a file that cannot be read is one
    problem at line 1."""
    file = f"{repo}/{PATH}"
    text, problem = await read_file(port(api, repo), PATH)
    if problem is not None:
        return Declared(problems=[Problem(file, 1, f"{PATH} {problem}")]), file
    if text is None:
        return Declared(), file
    return parse(text, file=file), file


async def show(
    ctx: ReactionContext,
    api: GitHubAPI,
    repo: str,
    payload: Mapping[str, Any],
    own: Declared,
    problems: list[Problem],
    running: list[str],
    *,
    proposed: bool = False,
) -> None:
    """Our check run on the default branch's head: red with each problem (an annotation on
    this repository's file), green with the workflows that will run. `proposed`: the file of a
    pull request's head (payload's `after`), checked only."""
    github = port(api, repo)
    head = payload.get("after")
    if head is None:
        # A backfill's or reconcile's payload does not name the default branch.
        branch = payload["repository"].get("default_branch") or await github.default_branch()
        head = (await github.tip(branch))["sha"]
    title = (
        f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in declared workflows"
        if problems
        else f"{len(running)} workflow{'s' if len(running) != 1 else ''} declared"
    )
    lines = [f"- `{p}`" for p in problems]
    if running:
        lines.append("")
        said = "Workflows that will run once merged" if proposed else "Workflows that run"
        lines.append(f"{said}: " + ", ".join(f"`{n}`" for n in running))
    if proposed:
        lines += ["", PROPOSED]
    annotations = [
        {
            "path": PATH,
            "start_line": p.line,
            "end_line": p.line,
            "annotation_level": "failure",
            "message": limits.cut(p.reason, 64_000),
        }
        for p in own.problems[:MAX_ANNOTATIONS]
    ]
    output = {
        "title": title,
        "summary": limits.cut("\n".join(lines), 65_535),
        "annotations": annotations,
    }
    request = {
        "name": CHECK_NAME,
        "head_sha": head,
        "status": "completed",
        "conclusion": "failure" if problems else "success",
        "output": output,
    }
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
    check_id = await post_once(
        ctx.app.pool,
        Action("github.workflows_check", f"{repo}@{head}:{digest}", target=f"{repo}@{head}"),
        event_id=ctx.event_id,
        request=request,
        create=lambda: github.create_check_run(request),
    )
    await ctx.step("check", f"check run {check_id}: {title}")


async def check_proposed(ctx: ReactionContext) -> str:
    """hookwise.workflows_check: the `.github/hookwise.yml` a branch or pull request proposes,
    read at its head commit and shown in our check run there, each problem an annotation on its
    line. Nothing of it is stored or run (workflows come from the default branch only, never
    from a fork's head). A pull request's execution first asks whether it changes the file:
    one past GitHub's 3,000-file listing is checked, since the file may be past it."""
    app, payload = ctx.app, ctx.payload
    assert app.github is not None
    repo, head = payload["repository"]["full_name"], payload["after"]
    api = await app.github.installation_api(payload["installation"]["id"])
    number = payload.get("number")
    if number is not None:
        files = await port(api, repo).pull_files(int(number))
        if not any(PATH in (f["filename"], f.get("previous_filename")) for f in files):
            if not limits.may_be_cut(files, limits.PULL_FILES):
                raise Skipped(f"the pull request does not change {PATH}")
            # Past GitHub's listing the file may still be changed: checked rather than missed.
            await ctx.step("files", f"GitHub lists {len(files)} files: {PATH} may be past them")
    file = f"{repo}/{PATH}@{head[:7]}"
    text, problem = await read_file(port(api, repo), PATH, head)
    if problem is not None:
        parsed = Declared(problems=[Problem(file, 1, f"{PATH} {problem}")])
    elif text is None:
        await ctx.step("read", f"{file}: removed; its workflows stop once this is merged")
        return "the file is removed"
    else:
        parsed = parse(text, file=file)
    running = sorted(parsed.workflows)
    await ctx.step(
        "read",
        f"{file}: {len(running)} workflows, {len(parsed.problems)} problems",
        problems=[str(p) for p in parsed.problems],
    )
    await show(ctx, api, repo, payload, parsed, parsed.problems, running, proposed=True)
    return f"proposed: {len(running)} workflows, {len(parsed.problems)} problems"

"""hookwise's own reactions as workflow definitions: the AI review, the failing-check analysis
and its buttons, and Linear's sync are written in the language of `.github/hookwise.yml`
(spec.py) and started by the same engine as the workflows users declare
(app/workflows/triggers.py): the same `on:` matching, the same `if:` conditions, one
execution per key, the same runner, logs and admin views.

What a built-in adds to a definition is only what its reaction needs to start:

- `needs`      what must be configured: "github" (the App and the event's installation),
               "model" (ANTHROPIC_API_KEY), "linear" (LINEAR_API_KEY); without it nothing starts
- `switch`     the repository setting of hookwise.yml (`review:`, `fix:`) that turns it off;
               read from the default branch by the execution (a network call), which then
               ends at once with "… are off for this repository"
- `own`        what to do with an event our own App caused: "skip" it (waiting for the App's
               identity when it is not known yet), start "only" for our own check runs, or
               start for "any"
- `subject`    the stored pull request it is about, with its label and facts
- `keyed`      its execution's key and trigger data. The keys are those of the releases before
               built-in definitions (`review:<pr>@<head>`, `analyse:<check run>`,
               `button:<check run>:<delivery>`, `linear:<pr>:<state>:<links>`), so an execution
               started before this release is never started a second time after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from app.analysis.links import mentions
from app.clients.github import is_own_event
from app.retry import RetryLater
from app.router import HandlerContext
from app.store import analyses, linear_issues, links, reviews
from app.store.links import PullText
from app.workflows.conditions import Facts, triggered
from app.workflows.spec import Declared, Workflow, parse

# How long an event that may be our own waits, each time, for the App's identity.
IDENTITY_WAIT = timedelta(minutes=1)

DEFINITIONS = """\
workflows:
  hookwise.linear_sync:
    description: Tell Linear about a pull request's link, merge or close
    on:
      pull_request: [opened, edited, reopened, synchronize, closed]
    steps:
      - tell_linear
  hookwise.review:
    description: AI review of a pull request's head commit
    on:
      pull_request: [opened, ready_for_review, synchronize]
    if:
      draft: false
      bot: false
    steps:
      - ai_review
  hookwise.analyse_failure:
    description: Analyse a failing check and propose a fix
    on:
      check_run: [failure, timed_out]
    steps:
      - analyse_failure
  hookwise.check_run_action:
    description: Apply fix / Re-analyse pressed on our check run
    on:
      check_run: {actions: [requested_action, rerequested]}
    steps:
      - analyse_failure
"""


@dataclass(frozen=True)
class Subject:
    """A stored pull request an event is about: its row id, `owner/repo#N`, what the event's
    transaction knows of it for `if:`, and its text when links matter."""

    pull_request_id: UUID
    label: str
    facts: Facts
    pull: PullText | None = None


# The pull requests the event is about (none: nothing to start).
FindSubjects = Callable[[HandlerContext], Awaitable[list[Subject]]]
# The key of the execution, and its trigger data; None: nothing to start.
Keyed = Callable[[HandlerContext, Subject], Awaitable[tuple[str, Any] | None]]


@dataclass(frozen=True)
class Builtin:
    name: str
    definition: Workflow
    needs: frozenset[str]
    own: Literal["skip", "only", "any"]
    subjects: FindSubjects
    keyed: Keyed
    switch: str | None = None
    # Linear `Issue` actions it also starts on: Linear's events are no trigger of hookwise.yml
    # (they name no repository), so only a built-in listens to them.
    linear_issue: frozenset[str] = frozenset()

    def triggered(self, ctx: HandlerContext) -> bool:
        """Whether the event is one this workflow starts on (spec's `on:` matching)."""
        row = ctx.event
        if row.source == "linear":
            return row.event_type == "Issue" and row.action in self.linear_issue
        return row.source == "github" and triggered(self.definition.on, row.event_type, ctx.payload)

    def ready(self, ctx: HandlerContext) -> bool:
        """Whether what it needs is configured, and the event names an installation."""
        app, payload = ctx.app, ctx.payload
        if "github" in self.needs and (app.github is None or "installation" not in payload):
            return False
        if "model" in self.needs and app.model is None:
            return False
        return not ("linear" in self.needs and app.linear is None)


def subject_of(pull_request_id: UUID) -> str:
    """What one at a time is kept by: one pull request's executions run in start order."""
    return f"pr:{pull_request_id}"


def our_own(ctx: HandlerContext) -> bool:
    """Whether our App caused the event (reacting to it could loop). Never guessed: while the
    App's identity is not known (GET /app unanswered, a rate limit at start-up), the event waits
    for it, rescheduled without counting an attempt, as the context keeps asking."""
    assert ctx.app.github is not None
    identity = ctx.app.github.identity
    if identity is None:
        raise RetryLater(
            datetime.now(UTC) + IDENTITY_WAIT,
            "who the GitHub App is (GET /app) is not known yet: the event may be its own",
        )
    return is_own_event(ctx.payload, identity)


def ours_only(ctx: HandlerContext) -> bool:
    """A button on a check run: ours, or not known yet (the execution checks it, since knowing
    our App id may need GET /app)."""
    assert ctx.app.github is not None
    identity = ctx.app.github.identity
    run = ctx.payload.get("check_run") or {}
    return identity is None or (run.get("app") or {}).get("id") == identity.app_id


# Subjects


async def _pull(ctx: HandlerContext) -> list[Subject]:
    pr = ctx.payload["pull_request"]
    stored = await reviews.pull_request(ctx.conn, pr["id"])
    if stored is None:
        return []
    label = f"{ctx.payload['repository']['full_name']}#{pr['number']}"
    return [Subject(stored.id, label, Facts.of_pull(pr))]


async def _failing_run(ctx: HandlerContext, check_run_id: int) -> list[Subject]:
    stored = await analyses.check_run(ctx.conn, check_run_id)
    if stored is None or stored.pr_id is None:
        return []  # a commit without a pull request: nothing to suggest a fix on
    label = f"{ctx.payload['repository']['full_name']}#{stored.pr_number}"
    return [Subject(stored.pr_id, label, Facts())]


async def _check_run(ctx: HandlerContext) -> list[Subject]:
    return await _failing_run(ctx, ctx.payload["check_run"]["id"])


async def _button(ctx: HandlerContext) -> list[Subject]:
    """Our check run names the failing one in its external_id."""
    external = str(ctx.payload["check_run"].get("external_id") or "")
    return await _failing_run(ctx, int(external)) if external.isdigit() else []


async def _linked_pulls(ctx: HandlerContext) -> list[Subject]:
    """A pull request's event: that pull request. A Linear issue's: the open pull requests
    that name it (relinked by app/handlers/linear.py when the issue is new)."""
    if ctx.event.source == "linear":
        issue_id = (ctx.payload.get("data") or {}).get("id")
        found = await linear_issues.get(ctx.conn, str(issue_id)) if issue_id else None
        if found is None:
            return []
        pulls = await links.open_pulls_mentioning(ctx.conn, found.identifier)
        return [Subject(p.id, f"{p.full_name}#{p.pr_number}", Facts(), p) for p in pulls]
    pr = ctx.payload["pull_request"]
    pull = await links.pull(ctx.conn, pr["id"])
    if pull is None:
        return []
    return [Subject(pull.id, f"{pull.full_name}#{pull.pr_number}", Facts.of_pull(pr), pull)]


# Keys


async def _review_key(ctx: HandlerContext, subject: Subject) -> tuple[str, Any]:
    pr = ctx.payload["pull_request"]
    # No data: the execution works from its event's stored body (app/store/executions.py).
    return f"review:{pr['id']}@{pr['head']['sha']}", None


async def _analysis_key(ctx: HandlerContext, subject: Subject) -> tuple[str, Any]:
    return f"analyse:{ctx.payload['check_run']['id']}", None


async def _button_key(ctx: HandlerContext, subject: Subject) -> tuple[str, Any]:
    return f"button:{ctx.payload['check_run']['id']}:{ctx.event.delivery_id}", None


async def _linear_key(ctx: HandlerContext, subject: Subject) -> tuple[str, Any] | None:
    """Once per link set and PR state: the links as app/handlers/links.py rebuilt them in this
    transaction, and the issues named that are not stored yet (Linear may know them)."""
    pull = subject.pull
    assert pull is not None
    linked = await links.linked(ctx.conn, pull.id)
    known = {link.identifier for link in linked}
    found = mentions(branch=pull.head_branch, title=pull.title, body=pull.body)
    wanted = sorted(
        [link.linear_issue_id for link in linked if link.removed_at is None]
        + [m.identifier for m in found if m.identifier not in known]
    )
    if not wanted:
        return None
    digest = hashlib.sha256(",".join(wanted).encode()).hexdigest()[:16]
    # The stored state decides: a stale `closed` delivery for a PR since reopened says nothing.
    closing = ctx.payload.get("action") == "closed" and pull.state != "opened"
    # "open", not the stored 'opened': keys of executions started before 0006 stay the same.
    state = pull.state if closing else "open"
    data = {"pull_request_github_id": pull.github_id, "closing": closing}
    return f"linear:{pull.github_id}:{state}:{digest}", data


FILE = "hookwise (built in: app/workflows/builtins.py)"


def _parsed() -> Declared:
    parsed = parse(DEFINITIONS, file=FILE)
    assert not parsed.problems, parsed.problems
    return parsed


PARSED = _parsed()
_DEFINED = PARSED.workflows
AI = frozenset({"github", "model"})

# In start order: one pull request's executions run in the order they were started.
BUILTINS: tuple[Builtin, ...] = (
    Builtin(
        "hookwise.linear_sync",
        _DEFINED["hookwise.linear_sync"],
        frozenset({"linear"}),
        "any",
        _linked_pulls,
        _linear_key,
        linear_issue=frozenset({"create", "update", "remove"}),
    ),
    Builtin(
        "hookwise.review",
        _DEFINED["hookwise.review"],
        AI,
        "skip",
        _pull,
        _review_key,
        switch="review",
    ),
    Builtin(
        "hookwise.analyse_failure",
        _DEFINED["hookwise.analyse_failure"],
        AI,
        "skip",
        _check_run,
        _analysis_key,
        switch="fix",
    ),
    Builtin(
        "hookwise.check_run_action",
        _DEFINED["hookwise.check_run_action"],
        AI,
        "only",
        _button,
        _button_key,
    ),
)


def stored_config() -> dict[str, dict[str, Any]]:
    """What each built-in's workflows row says besides its definition (/admin shows it)."""
    return {
        b.name: {"switch": b.switch, "needs": sorted(b.needs), "own_events": b.own}
        for b in BUILTINS
    }

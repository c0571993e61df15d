"""The built-in workflows by name: how to run one, and how to show a permanent failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.reactions import fix, linear, review
from app.reactions.context import ReactionContext
from app.reactions.policy import is_declared
from app.workflows import sync
from app.workflows.engine import run as declared_run

Run = Callable[[ReactionContext], Awaitable[str]]
Show = Callable[[ReactionContext, str], Awaitable[None]]


async def _nowhere(ctx: ReactionContext, reason: str) -> None:
    """Linear has no place of ours to show a failure: the admin and the metric show it."""


@dataclass(frozen=True)
class Workflow:
    name: str
    run: Run
    # Where the user looks: our check run's summary, the reviews table. Best effort.
    show_failure: Show = _nowhere
    # Needs the model, the GitHub App: without them it is cancelled, not run.
    needs_model: bool = True
    needs_github: bool = True


# Every workflow a .github/hookwise.yml declares runs through this one (app/workflows/).
DECLARED = Workflow("declared", declared_run, needs_model=False)

BUILTIN = {
    w.name: w
    for w in (
        Workflow("hookwise.review", review.run, review.record_failure),
        Workflow("hookwise.analyse_failure", fix.run_analysis, fix.show_failure),
        Workflow("hookwise.check_run_action", fix.run_button, fix.show_failure),
        Workflow("hookwise.linear_sync", linear.run, needs_model=False, needs_github=False),
        Workflow("hookwise.workflows_sync", sync.run, needs_model=False),
        Workflow("hookwise.workflows_check", sync.check_proposed, needs_model=False),
    )
}


def lookup(name: str) -> Workflow | None:
    """The built-in workflow of that name, or the declared workflows' engine for a declared
    one ('owner/repo:name', 'owner:name'); None for neither."""
    return BUILTIN.get(name) or (DECLARED if is_declared(name) else None)

"""Domain handlers, one Router per module; the worker merges them with `Router(*routers())`."""

from __future__ import annotations

from app.handlers import (
    backfill,
    check_runs,
    installations,
    linear,
    links,
    pull_requests,
    repositories,
)
from app.router import Router
from app.workflows import triggers as declared


def routers() -> list[Router]:
    # State first: a reaction to an event finds the rows that event wrote.
    return [
        installations.router,
        repositories.router,
        pull_requests.router,
        # After pull_requests: links are read from the PR row that handler wrote.
        links.router,
        check_runs.router,
        backfill.router,
        linear.router,
        # Last: the workflows the event starts, as executions in the same transaction —
        # hookwise's own reactions and those a .github/hookwise.yml declares — and reading
        # those files again.
        declared.router,
    ]

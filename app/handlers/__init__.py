"""Domain handlers, one Router per module; the worker merges them with `Router(*routers())`."""

from __future__ import annotations

from app.handlers import (
    backfill,
    check_runs,
    fixes,
    installations,
    linear,
    links,
    pull_requests,
    reviews,
)
from app.router import Router


def routers() -> list[Router]:
    # State first: a reaction to an event finds the rows that event wrote.
    return [
        installations.router,
        pull_requests.router,
        # After pull_requests: links are read from the PR row that handler wrote.
        links.router,
        check_runs.router,
        backfill.router,
        reviews.router,
        fixes.router,
        linear.router,
    ]

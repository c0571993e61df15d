"""Domain handlers, one Router per module; the worker merges them with `Router(*routers())`."""

from __future__ import annotations

from app.handlers import check_runs, installations, pull_requests
from app.router import Router


def routers() -> list[Router]:
    return [installations.router, pull_requests.router, check_runs.router]

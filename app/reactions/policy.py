"""Pure rules of the reactions: no I/O, so they are tested as functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Check conclusions worth analysing.
FAILED = frozenset({"failure", "timed_out"})
# Workflows that speak about one head commit: pointless once the PR has moved on.
HEAD_BOUND = frozenset({"hookwise.review"})
# Workflows that still have something to say about a closed pull request.
AFTER_CLOSE = frozenset({"hookwise.linear_sync"})


def is_declared(workflow: str) -> bool:
    """A workflow a hookwise.yml declares: its name is '<owner/repo or owner>:<name>'."""
    return ":" in workflow


def pointless(
    workflow: str,
    *,
    head_sha: str | None,
    pull: Mapping[str, Any] | None,
    installation: Mapping[str, Any] | None,
) -> str | None:
    """Why an execution no longer needs to run, or None. `pull` is the stored pull request
    (state, head_sha), `installation` the stored installation (suspended_at, deleted_at)."""
    if installation is not None:
        if installation.get("deleted_at") is not None:
            return "the installation was deleted"
        if installation.get("suspended_at") is not None:
            return "the installation is suspended"
    if pull is None:
        return None
    # A declared workflow may be about a close (`pull_request: [closed]`): never pointless then.
    if pull["state"] != "opened" and workflow not in AFTER_CLOSE and not is_declared(workflow):
        return f"the pull request is {pull['state']}"
    if workflow in HEAD_BOUND and head_sha and pull["head_sha"] not in (None, head_sha):
        return f"superseded: the head moved from {head_sha[:7]} to {pull['head_sha'][:7]}"
    return None

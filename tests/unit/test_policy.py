"""The reactions' pure rules (app/reactions/policy.py): when an execution has become pointless
before it runs. Which pull requests are reviewed is the built-in workflow's `if:`
(tests/integration/test_workflow_builtins.py)."""

from __future__ import annotations

import pytest

from app.reactions.policy import is_declared, pointless

HEAD = "a" * 40
MOVED = "b" * 40
OPEN = {"state": "opened", "head_sha": HEAD}
LIVE = {"suspended_at": None, "deleted_at": None}


def test_declared_workflows_are_named_with_their_scope() -> None:
    assert is_declared("octo-org/widgets:triage") and is_declared("octo-org:triage")
    assert not is_declared("hookwise.review")


@pytest.mark.parametrize(
    ("workflow", "pull", "installation", "why"),
    [
        ("hookwise.review", OPEN, LIVE, None),
        ("hookwise.review", None, None, None),
        ("hookwise.review", {**OPEN, "head_sha": MOVED}, LIVE, "superseded: the head moved"),
        # Only a review is bound to one head: an analysis of the old head still tells something.
        ("hookwise.analyse_failure", {**OPEN, "head_sha": MOVED}, LIVE, None),
        ("hookwise.review", {**OPEN, "state": "closed"}, LIVE, "the pull request is closed"),
        ("hookwise.linear_sync", {**OPEN, "state": "merged"}, LIVE, None),
        ("octo-org:on-close", {**OPEN, "state": "closed"}, LIVE, None),
        ("hookwise.review", OPEN, {**LIVE, "suspended_at": "2026-01-01"}, "is suspended"),
        ("hookwise.linear_sync", OPEN, {**LIVE, "deleted_at": "2026-01-01"}, "was deleted"),
    ],
)
def test_what_makes_an_execution_pointless(workflow, pull, installation, why) -> None:
    said = pointless(workflow, head_sha=HEAD, pull=pull, installation=installation)
    if why is None:
        assert said is None
    else:
        assert said is not None and why in said

"""hookwise's own reactions as workflow definitions (app/workflows/builtins.py): written in
hookwise.yml's language, matched by the same `on:` and `if:` as a declared workflow, and stored
with their triggers and actions as a declared one is."""

from __future__ import annotations

from typing import Any

import pytest

from app.workflows.builtins import BUILTINS, PARSED
from app.workflows.conditions import Facts, evaluate, triggered

BY_NAME = {b.name: b for b in BUILTINS}


def pull_event(action: str, *, draft: bool = False, user_type: str = "User") -> dict[str, Any]:
    pr = {"draft": draft, "user": {"login": "ada", "type": user_type}, "title": "t"}
    return {"action": action, "pull_request": pr}


def starts(name: str, event: str, payload: dict[str, Any]) -> bool:
    """Whether the built-in's `on:` and payload-decided `if:` start it, as the engine asks."""
    definition = BY_NAME[name].definition
    if not triggered(definition.on, event, payload):
        return False
    pr = payload.get("pull_request")
    facts = Facts.of_pull(pr) if pr else Facts()
    return evaluate(definition.if_, facts).holds is True


def test_the_definitions_parse_without_problems() -> None:
    assert PARSED.problems == []
    assert list(PARSED.workflows) == [b.name for b in BUILTINS]
    assert {b.name: b.switch for b in BUILTINS} == {
        "hookwise.linear_sync": None,
        "hookwise.review": "review",
        "hookwise.analyse_failure": "fix",
        "hookwise.check_run_action": None,
    }


@pytest.mark.parametrize(
    ("name", "event", "payload", "expected"),
    [
        # The review: new code of a ready pull request by a person.
        ("hookwise.review", "pull_request", pull_event("opened"), True),
        ("hookwise.review", "pull_request", pull_event("ready_for_review"), True),
        ("hookwise.review", "pull_request", pull_event("synchronize"), True),
        ("hookwise.review", "pull_request", pull_event("edited"), False),
        ("hookwise.review", "pull_request", pull_event("closed"), False),
        ("hookwise.review", "pull_request", pull_event("opened", draft=True), False),
        ("hookwise.review", "pull_request", pull_event("opened", user_type="Bot"), False),
        ("hookwise.review", "check_run", {"action": "completed"}, False),
        # The analysis: a completed run that failed or timed out.
        *[
            (
                "hookwise.analyse_failure",
                "check_run",
                {"action": "completed", "check_run": {"conclusion": conclusion}},
                conclusion in ("failure", "timed_out"),
            )
            for conclusion in ("failure", "timed_out", "success", "cancelled", "neutral")
        ],
        (
            "hookwise.analyse_failure",
            "check_run",
            {"action": "rerequested", "check_run": {"conclusion": "failure"}},
            False,
        ),
        # The buttons: pressed, or GitHub's Re-run, whatever the run's conclusion.
        ("hookwise.check_run_action", "check_run", {"action": "requested_action"}, True),
        ("hookwise.check_run_action", "check_run", {"action": "rerequested"}, True),
        (
            "hookwise.check_run_action",
            "check_run",
            {"action": "completed", "check_run": {"conclusion": "failure"}},
            False,
        ),
        # Linear: every change of a pull request's text or state.
        *[
            ("hookwise.linear_sync", "pull_request", pull_event(action), True)
            for action in ("opened", "edited", "reopened", "synchronize", "closed")
        ],
        ("hookwise.linear_sync", "pull_request", pull_event("labeled"), False),
    ],
)
def test_each_builtin_starts_on_what_its_reaction_did_before(
    name: str, event: str, payload: dict[str, Any], expected: bool
) -> None:
    assert starts(name, event, payload) is expected


async def test_the_definitions_are_stored_as_a_declared_workflows_are(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False):
        pass
    rows = await db.fetch(
        "SELECT w.name, w.config ->> 'switch' AS switch,"
        " (SELECT string_agg(t.conditions ->> 'event', ',') FROM workflow_triggers t"
        "  WHERE t.workflow_id = w.id) AS events,"
        " (SELECT string_agg(a.action_type, ',' ORDER BY a.order_index) FROM workflow_actions a"
        "  WHERE a.workflow_id = w.id) AS steps"
        " FROM workflows w WHERE w.config ? 'definition' AND w.scope IS NULL ORDER BY w.name"
    )
    assert [tuple(r) for r in rows] == [
        ("hookwise.analyse_failure", "fix", "check_run", "analyse_failure"),
        ("hookwise.check_run_action", None, "check_run", "analyse_failure"),
        ("hookwise.linear_sync", None, "pull_request", "tell_linear"),
        ("hookwise.review", "review", "pull_request", "ai_review"),
    ]


@pytest.fixture
def world_factory(settings, dsn, fake_github) -> Any:
    from tests.reactions_world import world_factory_for

    return world_factory_for(settings, dsn, fake_github)

"""`on:` and `if:` of declared workflows against events and facts, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from app.workflows.conditions import Facts, evaluate, is_command, triggered
from app.workflows.spec import If, On

PR = Facts(
    title="feat: add the adder",
    author="ada",
    association="FIRST_TIME_CONTRIBUTOR",
    draft=False,
    base_branch="main",
    head_branch="ada/eng-12-adder",
    labels=("enhancement",),
    linked_issue=True,
    files=(("src/calc.py", 40), ("docs/calc.md", 10)),
    description="Adds add().",
)


@pytest.mark.parametrize(
    ("conditions", "holds", "reason"),
    [
        ({}, True, ""),
        ({"base_branch": "main"}, True, ""),
        ({"base_branch": ["release/*"]}, False, "base_branch 'main' matches none of release/*"),
        ({"head_branch": "ada/**"}, True, ""),
        ({"labels": ["enhancement"]}, True, ""),
        ({"labels": ["enhancement", "ready"]}, False, "label ready is missing"),
        ({"labels_absent": ["wip"]}, True, ""),
        ({"labels_absent": ["enhancement"]}, False, "label enhancement is present"),
        ({"author": ["ADA"]}, True, ""),
        ({"author": ["*[bot]"]}, False, "author ada is not one of *[bot]"),
        ({"author_association": ["FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER"]}, True, ""),
        ({"author_association": "MEMBER"}, False, "author association"),
        ({"draft": False}, True, ""),
        ({"draft": True}, False, "not a draft"),
        ({"title": "^feat(\\(.*\\))?:"}, True, ""),
        ({"title": "^fix:"}, False, "title does not match '^fix:'"),
        ({"linked_issue": True}, True, ""),
        ({"linked_issue": False}, False, "a Linear issue is linked"),
        ({"changed_paths": ["docs/**"]}, True, ""),
        ({"changed_paths": ["*.lock"]}, False, "no changed file matches *.lock"),
        ({"max_files_changed": 2}, True, ""),
        ({"max_files_changed": 1}, False, "2 files changed, more than 1"),
        ({"min_lines_changed": 51}, False, "50 lines changed, fewer than 51"),
        ({"max_lines_changed": 50}, True, ""),
    ],
)
def test_conditions(conditions: dict[str, Any], holds: bool, reason: str) -> None:
    verdict = evaluate(If.model_validate(conditions), PR)
    assert verdict.holds is holds
    assert verdict.reason.startswith(reason)


def test_a_rename_is_one_file_and_its_old_name_a_path() -> None:
    listed = [{"filename": "lib/calc.py", "previous_filename": "calc.py", "additions": 0}]
    files, moved = Facts.of_files(listed)
    facts = Facts(files=files, moved_from=moved)
    assert evaluate(If.model_validate({"max_files_changed": 1}), facts).holds is True
    assert evaluate(If.model_validate({"changed_paths": ["calc.py"]}), facts).holds is True


@pytest.mark.parametrize(
    ("pr", "size"),
    [
        ({"changed_files": 3005, "additions": 3005, "deletions": 2}, (3005, 3007)),
        ({"changed_files": 3, "additions": None, "deletions": 0}, None),
        ({}, None),
    ],
)
def test_sizes_are_the_pull_requests_own_counts_when_it_has_them(
    pr: dict[str, Any], size: tuple[int, int] | None
) -> None:
    assert Facts.size_of(pr) == size
    # Listed: 3,000 files of one line each at most, as GitHub's listing stops there.
    facts = Facts(files=tuple((f"f{n}", 1) for n in range(3000)), size=Facts.size_of(pr))
    assert facts.file_count() == (size[0] if size else 3000)
    assert facts.line_count() == (size[1] if size else 3000)


def test_what_the_transaction_cannot_know_is_left_for_the_execution() -> None:
    known = Facts(title="x", author="ada", draft=False, base_branch="main", head_branch="b")
    later = evaluate(If(base_branch=["main"], changed_paths=["docs/**"], labels=["a"]), known)
    assert later.holds is None
    assert later.reason == "needs labels, changed_paths"
    # A condition that fails on what is known decides at once.
    now = evaluate(If(base_branch=["dev"], changed_paths=["docs/**"]), known)
    assert now.holds is False


def on(spec: dict[str, Any]) -> On:
    return On.model_validate(spec)


@pytest.mark.parametrize(
    ("spec", "event", "payload", "expected"),
    [
        ({"pull_request": ["opened"]}, "pull_request", {"action": "opened"}, True),
        ({"pull_request": ["opened"]}, "pull_request", {"action": "synchronize"}, False),
        ({"pull_request": None}, "pull_request", {"action": "ready_for_review"}, True),
        ({"pull_request": None}, "pull_request", {"action": "closed"}, False),
        (
            {"check_run": ["failure"]},
            "check_run",
            {"action": "completed", "check_run": {"conclusion": "failure", "name": "tests"}},
            True,
        ),
        (
            {"check_run": None},
            "check_run",
            {"action": "completed", "check_run": {"conclusion": "success", "name": "tests"}},
            False,
        ),
        (
            {"check_run": {"conclusions": ["failure"], "names": ["lint*"]}},
            "check_run",
            {"action": "completed", "check_run": {"conclusion": "failure", "name": "tests"}},
            False,
        ),
        (
            {"pull_request_review": ["approved"]},
            "pull_request_review",
            {"action": "submitted", "review": {"state": "APPROVED"}},
            True,
        ),
        (
            {"pull_request_review": ["approved"]},
            "pull_request_review",
            {"action": "submitted", "review": {"state": "COMMENTED"}},
            False,
        ),
        (
            {"issue_comment": "/hookwise review"},
            "issue_comment",
            {
                "action": "created",
                "issue": {"pull_request": {}},
                "comment": {"body": "/hookwise review please"},
            },
            True,
        ),
        (
            {"issue_comment": "/hookwise review"},
            "issue_comment",
            {"action": "created", "issue": {}, "comment": {"body": "/hookwise review"}},
            False,  # an issue, not a pull request
        ),
        (
            {"issue_comment": "/hookwise review"},
            "issue_comment",
            {
                "action": "edited",
                "issue": {"pull_request": {}},
                "comment": {"body": "/hookwise review"},
            },
            False,
        ),
        ({"schedule": "0 3 * * *"}, "pull_request", {"action": "opened"}, False),
    ],
)
def test_triggers(spec: dict[str, Any], event: str, payload: dict[str, Any], expected: bool):
    assert triggered(on(spec), event, payload) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/hookwise review", True),
        ("  /hookwise review\nthanks", True),
        ("/hookwise reviewer", False),
        ("please /hookwise review", False),
        ("", False),
        (None, False),
    ],
)
def test_a_slash_command_is_the_comments_first_line(body: str | None, expected: bool) -> None:
    assert is_command("/hookwise review", body) is expected


@pytest.mark.parametrize(
    ("size", "paths", "holds"),
    [
        # Listed whole: no match fails the condition.
        ((3000, 3000), ["secrets/**"], False),
        # Cut: a listed match decides; no match among the listed leaves it undecided.
        ((3005, 3005), ["gen/**"], True),
        ((3005, 3005), ["secrets/**"], None),
        # The count not known: 3,000 listed is as many as GitHub lists, so maybe cut.
        (None, ["secrets/**"], None),
    ],
)
def test_changed_paths_past_githubs_listing_are_undecided_not_failed(
    size: tuple[int, int] | None, paths: list[str], holds: bool | None
) -> None:
    listed = tuple((f"gen/{n:04}.txt", 1) for n in range(3000))
    verdict = evaluate(If(changed_paths=paths), Facts(files=listed, size=size))
    assert verdict.holds is holds
    if holds is None:
        assert verdict.reason.startswith("changed_paths cannot be decided: GitHub lists 3000")

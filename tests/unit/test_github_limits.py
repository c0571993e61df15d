"""GitHub's limits, cut at the numbers GitHub's OpenAPI description states (issue 16, item 9)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import github_limits as limits
from tests.contracts.openapi import rest_contract


def create_check_run(body: dict[str, object]) -> list[str]:
    """What GitHub's description says of this POST /repos/{owner}/{repo}/check-runs body."""
    contract = rest_contract()
    operation, problems = contract.check_request(
        "POST", "/repos/o/r/check-runs", {}, json.dumps(body).encode()
    )
    assert operation is not None
    return problems


def test_a_cut_check_run_is_what_github_takes() -> None:
    long_action = {"label": "L" * 30, "description": "D" * 50, "identifier": "I" * 19 + "x"}
    actions = [long_action, *({**long_action, "identifier": f"a{n}"} for n in range(3))]
    body = {
        "name": limits.cut("n" * 300, limits.CHECK_NAME, "…"),
        "head_sha": "0" * 40,
        "output": limits.check_output("t" * 300, "s" * 70_000, "x" * 70_000),
        "actions": limits.check_actions(actions),
    }
    assert create_check_run(body) == []
    output = body["output"]
    assert isinstance(output, dict)
    assert [len(output[k]) for k in ("title", "summary", "text")] == [255, 65_535, 65_535]
    assert output["summary"].endswith(limits.CUT_NOTE)
    assert len(body["actions"]) == 3  # type: ignore[arg-type]
    # One character over, and GitHub's description refuses it: the numbers are GitHub's.
    over = {**output, "summary": "s" * (limits.CHECK_TEXT + 1)}
    assert len(create_check_run({**body, "output": over})) == 1


def test_text_that_fits_is_left_alone() -> None:
    assert limits.check_output("t", "s") == {"title": "t", "summary": "s"}
    exactly = "c" * limits.COMMENT_BODY
    assert limits.cut(exactly, limits.COMMENT_BODY) is exactly
    assert len(limits.cut(exactly + "c", limits.COMMENT_BODY)) == 65_536


def test_identifiers_that_would_collide_when_cut_are_refused() -> None:
    same = [{"label": "a", "description": "b", "identifier": "x" * 20 + tail} for tail in "12"]
    with pytest.raises(ValueError, match="collide"):
        limits.check_actions(same)


def test_annotations_go_fifty_a_request() -> None:
    batches = limits.annotation_batches(range(120))
    assert [len(batch) for batch in batches] == [50, 50, 20]
    assert [a for batch in batches for a in batch] == list(range(120))


@given(text=st.text(), limit=st.integers(min_value=1, max_value=200))
def test_a_cut_never_exceeds_its_limit(text: str, limit: int) -> None:
    cut = limits.cut(text, limit)
    assert len(cut) <= limit
    assert (cut == text) == (len(text) <= limit)

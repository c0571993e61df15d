"""The Linear client against the fake Linear, over real sockets: shapes, auth, rate limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.clients.linear import (
    ISSUE,
    GraphQLError,
    LinearClient,
    RateLimited,
    Unavailable,
    completed_state,
)
from app.retry import RetryLater
from tests.fakes.linear import FakeLinear


@pytest.fixture
async def linear() -> AsyncIterator[FakeLinear]:
    async with FakeLinear() as fake:
        fake.add_team("ENG", "Engineering")
        yield fake


@pytest.fixture
async def client(linear: FakeLinear) -> AsyncIterator[LinearClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield LinearClient(http, url=linear.url, api_key=linear.api_key, retry_seconds=0.01)


async def test_issue_by_identifier_and_by_id(linear: FakeLinear, client: LinearClient) -> None:
    made = linear.add_issue("ENG", "Login fails")
    by_identifier = await client.issue("eng-1")
    assert by_identifier is not None
    assert (by_identifier.id, by_identifier.identifier, by_identifier.team_key) == (
        made.id,
        "ENG-1",
        "ENG",
    )
    assert by_identifier.state.type == "unstarted"
    assert by_identifier.updated_at.tzinfo is not None
    assert await client.issue(made.id) == by_identifier
    assert await client.issue("ENG-404") is None
    # The key goes bare, as Linear takes personal API keys.
    assert linear.requests[0].headers["authorization"] == linear.api_key


async def test_attach_move_and_comment(linear: FakeLinear, client: LinearClient) -> None:
    issue = linear.add_issue("ENG", "Login fails")
    url = "https://github.com/octo-org/widgets/pull/7"
    first = await client.attach_url(issue.id, url=url, title="#7 Fix login", subtitle="widgets")
    # The same URL again updates the attachment: Linear keeps one per URL and issue.
    again = await client.attach_url(issue.id, url=url, title="#7 Fix login (v2)")
    assert first == again
    assert [a.title for a in linear.attachments.values()] == ["#7 Fix login (v2)"]

    done = completed_state(await client.team_states(issue.team.id))
    assert done is not None and done.name == "Done"
    moved = await client.set_state(issue.id, done.id)
    assert (moved.name, issue.state.name) == ("Done", "Done")

    comment_id = await client.comment(issue.id, "Closed without merging.")
    assert [c.id for c in await client.comments(issue.id)] == [comment_id]


async def test_a_rate_limit_becomes_retry_later_at_linears_reset(
    linear: FakeLinear, client: LinearClient
) -> None:
    linear.rate_limit(reset_in=120)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        await client.issue("ENG-1")
    assert isinstance(caught.value, RetryLater)
    assert before + timedelta(seconds=110) < caught.value.retry_at
    assert caught.value.retry_at < before + timedelta(seconds=130)
    assert "Issue" in str(caught.value)
    assert linear.requests[0].status == 400
    assert linear.requests[0].errors == ["RATELIMITED"]


async def test_5xx_is_retried_then_unavailable(linear: FakeLinear, client: LinearClient) -> None:
    linear.add_issue("ENG", "Login fails")
    linear.fail(502, times=2)
    assert await client.issue("ENG-1") is not None
    assert [r.status for r in linear.requests] == [502, 502, 200]
    linear.fail(503, times=3)
    with pytest.raises(Unavailable, match="Issue answered 503"):
        await client.issue("ENG-1")


async def test_a_failure_inside_linear_is_retried_then_unavailable(
    linear: FakeLinear, client: LinearClient
) -> None:
    linear.add_issue("ENG", "Login fails")
    linear.error("LOCK_TIMEOUT", "Lock timeout, please retry", times=2)
    assert await client.issue("ENG-1") is not None
    assert [r.status for r in linear.requests] == [200, 200, 200]
    linear.error("INTERNAL_ERROR", "Internal server error", times=3)
    with pytest.raises(Unavailable, match="INTERNAL_ERROR: Internal server error"):
        await client.issue("ENG-1")
    # A refusal of what was asked is still one: not retried.
    linear.error("INVALID_INPUT", "Argument Validation Error", status=400)
    with pytest.raises(GraphQLError):
        await client.issue("ENG-1")
    assert len(linear.requests) == 7


async def test_a_wrong_key_is_refused_without_naming_it(
    linear: FakeLinear, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with httpx.AsyncClient(timeout=10) as http:
        wrong = LinearClient(http, url=linear.url, api_key="lin_api_wrong_key_123")
        with pytest.raises(GraphQLError) as caught:
            await wrong.team_states(next(iter(linear.teams)))
    assert caught.value.codes == ["AUTHENTICATION_ERROR"]
    assert "lin_api_wrong_key_123" not in str(caught.value)
    assert "lin_api_wrong_key_123" not in repr(wrong)
    assert "lin_api_wrong_key_123" not in caplog.text


async def test_the_fake_answers_like_graphql_to_what_it_does_not_serve(
    linear: FakeLinear, client: LinearClient
) -> None:
    with pytest.raises(GraphQLError, match="GRAPHQL_VALIDATION_FAILED"):
        await client.execute("Nothing", "query Nothing { nosuchfield { id } }", {})
    with pytest.raises(GraphQLError, match=r"Variable '\$id' of required type"):
        await client.execute("Issue", ISSUE, {})
    # In Linear's schema, but not served here: refused rather than answered in a wrong shape.
    with pytest.raises(GraphQLError, match="GRAPHQL_VALIDATION_FAILED"):
        await client.execute("Viewer", "query Viewer { viewer { id } }", {})
    assert len(linear.problems) == 3
    assert "Cannot query field 'nosuchfield'" in linear.problems[0]
    linear.problems.clear()

"""The one error tree: what each client's failures are classified as (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import anthropic
import httpx
import pytest
from gidgethub import BadRequest, GitHubBroken, InvalidField

from app.clients import github, linear
from app.clients.errors import RateLimited, Refused, Unavailable, classify

REQUEST = httpx.Request("POST", "https://api.example.test/v1/messages")


def anthropic_error(status: int, kind: str, message: str, **headers: str) -> Exception:
    response = httpx.Response(status, request=REQUEST, headers=headers)
    body = {"type": "error", "error": {"type": kind, "message": message}}
    cls = {
        400: anthropic.BadRequestError,
        401: anthropic.AuthenticationError,
        403: anthropic.PermissionDeniedError,
        404: anthropic.NotFoundError,
        413: anthropic.APIStatusError,
        429: anthropic.RateLimitError,
        529: anthropic.InternalServerError,
    }[status]
    return cls(message, response=response, body=body)


def test_a_mistyped_model_is_named() -> None:
    refused = classify(anthropic_error(404, "not_found_error", "model: claude-sonet-4"))
    assert isinstance(refused, Refused) and refused.status == 404
    assert "model claude-sonet-4 does not exist" in str(refused)
    assert "`model:` in .github/hookwise.yml" in str(refused)


@pytest.mark.parametrize(
    ("status", "kind", "shown"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "API key was refused"),
        (403, "permission_error", "permission denied"),
        (413, "request_too_large", "request_too_large"),
    ],
)
def test_anthropic_refusals_are_permanent(status: int, kind: str, shown: str) -> None:
    refused = classify(anthropic_error(status, kind, "no"))
    assert isinstance(refused, Refused) and refused.status == status
    assert shown in str(refused)


def test_anthropic_429_waits_as_long_as_it_says() -> None:
    limited = classify(
        anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "30"})
    )
    assert isinstance(limited, RateLimited)
    wait = (limited.until - datetime.now(UTC)).total_seconds()
    assert 25 < wait <= 30


def test_anthropic_overload_and_lost_connections_are_transient() -> None:
    assert isinstance(classify(anthropic_error(529, "overloaded_error", "busy")), Unavailable)
    lost = anthropic.APIConnectionError(request=REQUEST)
    assert isinstance(classify(lost), Unavailable)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_github_client_errors_are_refusals(status: int) -> None:
    refused = classify(BadRequest(HTTPStatus(status), "Resource not accessible by integration"))
    assert isinstance(refused, Refused) and refused.status == status
    assert str(refused).startswith(f"GitHub refused ({status})")


def test_github_validation_failures_are_refusals_too() -> None:
    refused = classify(InvalidField([], "Validation Failed"))
    assert isinstance(refused, Refused) and refused.status == 422


def test_github_rate_limits_come_before_their_status() -> None:
    # gidgethub's hook raises ours for 403/429 with Retry-After or X-RateLimit-Remaining: 0.
    at = datetime.now(UTC) + timedelta(seconds=60)
    limited = classify(github.RateLimited(at, "GitHub rate limit on GET /repos/o/r/pulls"))
    assert isinstance(limited, RateLimited) and limited.until == at
    secondary = github.rate_limit_reset(403, {"retry-after": "60"}, now=datetime.now(UTC))
    primary = github.rate_limit_reset(
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"},
        now=datetime.now(UTC),
    )
    plain = github.rate_limit_reset(403, {"x-ratelimit-remaining": "4000"}, now=datetime.now(UTC))
    assert secondary is not None and primary is not None and plain is None


def test_github_5xx_and_transport_errors_are_transient() -> None:
    assert isinstance(classify(GitHubBroken(HTTPStatus.BAD_GATEWAY)), Unavailable)
    assert isinstance(classify(httpx.ConnectError("refused", request=REQUEST)), Unavailable)
    assert isinstance(classify(httpx.ReadTimeout("slow", request=REQUEST)), Unavailable)


def test_linears_errors_are_the_trees() -> None:
    at = datetime.now(UTC) + timedelta(minutes=1)
    assert isinstance(
        classify(linear.RateLimited(at, "Linear rate limit on IssueUpdate")), RateLimited
    )
    assert isinstance(classify(linear.Unavailable("Linear IssueUpdate: ConnectError")), Unavailable)
    refused = linear.GraphQLError("IssueUpdate", 400, [{"message": "Entity not found: Issue"}])
    assert classify(refused) is refused and refused.status == 400
    assert str(refused).startswith("Linear IssueUpdate answered 400")


def test_our_own_bugs_are_not_a_remotes_error() -> None:
    assert classify(KeyError("pull_request")) is None

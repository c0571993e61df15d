"""Which failures of an event are permanent (dead-lettered at once) and how each is shown."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus

import asyncpg
import httpx
import pytest
from gidgethub import BadRequest, GitHubBroken

from app.clients.errors import Refused
from app.deliveries import TOO_DEEP, InvalidPayload
from app.failures import permanent, reason
from app.retry import RetryLater


@pytest.mark.parametrize(
    ("exc", "from_handler", "from_elsewhere"),
    [
        # A remote said no: whoever asked.
        (BadRequest(HTTPStatus.NOT_FOUND, "Not Found"), True, True),
        # But a 401 may be a new token GitHub's replicas do not know yet: asked again, it goes.
        (BadRequest(HTTPStatus.UNAUTHORIZED, "Bad credentials"), False, False),
        # Another service's 401 is a key that is wrong: asked again, refused again.
        (Refused("Linear", 401, "authentication failed"), True, True),
        # A remote's passing trouble, a lost connection, a rate limit: never.
        (GitHubBroken(HTTPStatus.BAD_GATEWAY), False, False),
        (httpx.ConnectError("refused"), False, False),
        (RetryLater(datetime(2030, 1, 1, tzinfo=UTC), "rate limited"), False, False),
        # A payload the handlers cannot read, a value the store cannot hold: from a handler.
        (KeyError("pull_request"), True, False),
        (TypeError("string indices must be integers"), True, False),
        (ValueError("10**30 is out of range for a bigint"), True, False),
        (asyncpg.NumericValueOutOfRangeError("bigint out of range"), True, False),
        # A walk of a payload too deep for the stack goes as deep on every attempt.
        (RecursionError("maximum recursion depth exceeded"), True, False),
        # A stored body that cannot be read, whoever reads it (the worker, before handlers).
        (InvalidPayload(TOO_DEEP), True, True),
        (InvalidPayload("body is not a JSON document"), True, True),
        # Transactions meeting each other, the database away, a fault of ours: retried.
        (asyncpg.DeadlockDetectedError("deadlock detected"), False, False),
        (asyncpg.UndefinedColumnError('column "name" does not exist'), False, False),
        (ConnectionResetError("reset"), False, False),
        (RuntimeError("upstream hiccup"), False, False),
    ],
)
def test_permanent(exc: Exception, from_handler: bool, from_elsewhere: bool) -> None:
    assert permanent(exc, handler=True) is from_handler
    assert permanent(exc, handler=False) is from_elsewhere


def test_a_remote_failure_is_shown_in_its_service_words_and_others_by_type() -> None:
    assert reason(BadRequest(HTTPStatus.NOT_FOUND, "Not Found")) == (
        "GitHub refused (404): Not Found"
    )
    assert reason(KeyError("pull_request")) == "KeyError: 'pull_request'"
    assert reason(InvalidPayload(TOO_DEEP)) == f"InvalidPayload: {TOO_DEEP}"


def test_a_lost_connection_keeps_what_it_said() -> None:
    # Before the failures were classified, last_error read "ConnectError: [Errno 111] ...":
    # the operator's one clue to which of DNS, a refusal or a proxy it was.
    assert reason(httpx.ConnectError("[Errno 111] Connection refused")) == (
        "HTTP: ConnectError: [Errno 111] Connection refused"
    )
    assert reason(httpx.ReadTimeout("")) == "HTTP: ReadTimeout"

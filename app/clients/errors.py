"""One error tree for GitHub, Linear and Anthropic, and the one place their errors are sorted.

    RemoteError               a remote service did not do what we asked
     ├── Refused(status, reason)   permanent: 400, 401, 403, 404, 413, 422 … asking again is
     │                             refused again; the execution fails at once, reason shown
     ├── RateLimited(until)        the service named a time: rescheduled then, attempt not counted
     └── Unavailable               transient: 5xx, 529 overloaded, timeouts, lost connections;
                                   retried with backoff

Rate limits are recognised before status classes: GitHub's come as 403 or 429, primary and
secondary ("Rate limits for the REST API", docs.github.com); Linear's as HTTP 400 with the
RATELIMITED error code ("Rate limiting", developers.linear.app); Anthropic's as 429.
`classify` maps what the libraries raise (gidgethub, httpx, anthropic, our Linear client) to the
tree, so reactions never catch a library's exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
from gidgethub import BadRequest, GitHubBroken, GitHubException

from app.retry import RetryLater
from app.text import storable


class RemoteError(Exception):
    """A call to GitHub, Linear or Anthropic failed; `service` names which. Its message, often
    the service's own words, is made storable (app/text.py): it is stored as the reason."""

    def __init__(self, service: str, message: str) -> None:
        message = storable(message)
        super().__init__(message if message.startswith(service) else f"{service}: {message}")
        self.service = service


class Refused(RemoteError):
    """Permanent: the service refused, and would refuse again."""

    def __init__(self, service: str, status: int, reason: str) -> None:
        shown = reason if reason.startswith(service) else f"{service} refused ({status}): {reason}"
        super().__init__(service, shown)
        self.status = status
        self.reason = storable(reason)


class RateLimited(RemoteError, RetryLater):
    """The service asked us to wait until `until`."""

    def __init__(self, service: str, until: datetime, reason: str = "") -> None:
        RetryLater.__init__(self, until, reason or f"{service} rate limit")
        self.service = service
        self.until = until


class Unavailable(RemoteError):
    """Transient: no answer, or one that says try again later."""


def _anthropic_reason(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    message = str(error.get("message") or exc.message)
    kind = str(error.get("type") or "")
    if exc.status_code == 404 and (kind == "not_found_error" or "model" in message):
        found = re.search(r"model:\s*(\S+)", message)
        name = found[1] if found else "the model named"
        return (
            f"model {name} does not exist (not_found_error): check `model:` in "
            ".github/hookwise.yml or HOOKWISE_MODEL"
        )
    if exc.status_code == 401:
        return f"the API key was refused (authentication_error): {message}"
    if exc.status_code == 403:
        return f"permission denied (permission_error): {message}"
    return f"{kind or 'error'}: {message}"


def _retry_after(headers: Mapping[str, str], now: datetime) -> datetime:
    value = headers.get("retry-after", "")
    try:
        return now + timedelta(seconds=max(float(value), 1.0))
    except ValueError:
        return now + timedelta(minutes=1)


def classify(exc: BaseException) -> RemoteError | None:
    """The tree's node for an exception a client raised; None for what is not a remote's error
    (a bug of ours, which is retried like a transient error)."""
    if isinstance(exc, RemoteError):
        return exc
    now = datetime.now(UTC)
    if isinstance(exc, RetryLater):
        return RateLimited("remote", exc.retry_at, exc.reason)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status == 429:
            return RateLimited("Anthropic", _retry_after(exc.response.headers, now))
        if status >= 500:
            return Unavailable("Anthropic", f"{status}: {exc.message}")
        return Refused("Anthropic", status, _anthropic_reason(exc))
    if isinstance(exc, anthropic.APIConnectionError):
        return Unavailable("Anthropic", _named(exc))
    if isinstance(exc, GitHubBroken):
        return Unavailable("GitHub", f"{int(exc.status_code)}: {exc}")
    if isinstance(exc, BadRequest):
        return Refused("GitHub", int(exc.status_code), str(exc) or exc.status_code.phrase)
    if isinstance(exc, GitHubException):
        return Unavailable("GitHub", str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status >= 500:
            return Unavailable("GitHub", f"{status} from {exc.request.url.path}")
        return Refused("GitHub", status, f"{exc.request.method} {exc.request.url.path}")
    if isinstance(exc, httpx.TransportError):
        return Unavailable("HTTP", _named(exc))
    return None


def _named(exc: BaseException) -> str:
    """A lost connection's class and what it said, when it said anything (httpx's timeouts say
    nothing; a refused connection or a name not found says which)."""
    said = str(exc)
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__

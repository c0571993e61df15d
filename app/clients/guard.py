"""The house rule "no network call while a database transaction or a lock is held", enforced
where every request of hookwise's three clients leaves (an httpx request hook).

The worker marks the stretch in which an event's transaction and its pull request's locks are
held (`holding`); a request sent from inside it raises HeldAcrossNetwork instead of going out.
A context variable follows each asyncio task, so an execution calling GitHub while another
task's event holds a transaction is not mistaken for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx

_held: ContextVar[str | None] = ContextVar("hookwise_held", default=None)


class HeldAcrossNetwork(RuntimeError):
    """A request was about to leave while a transaction or lock was held: a bug in hookwise."""


@contextmanager
def holding(what: str) -> Iterator[None]:
    """Within this block no request of the guarded clients may leave; `what` names what is held
    (shown in the error)."""
    token = _held.set(what)
    try:
        yield
    finally:
        _held.reset(token)


async def refuse_when_held(request: httpx.Request) -> None:
    """httpx request hook. Raises HeldAcrossNetwork, naming the method, host and path (never
    the query or headers, which may carry secrets)."""
    what = _held.get()
    if what is not None:
        raise HeldAcrossNetwork(
            f"{request.method} {request.url.host}{request.url.path} asked while {what} is held"
        )


def hooks() -> dict[str, Any]:
    """`event_hooks` for an httpx.AsyncClient (or the Anthropic SDK's) that hookwise sends with."""
    return {"request": [refuse_when_held]}

"""Which failures of an event are worth another attempt: errors classified once (DESIGN.md).

Permanent, so the event is dead-lettered at its first failure with the reason in last_error
(`hookwise replay` brings it back once what was wrong is put right):
- a remote service refused (clients.errors.Refused: 400, 403, 404, 422 ...), whatever
  asked it; asking again is refused again. Not GitHub's 401: it answers one to an installation
  token used in its first seconds, before it has reached every replica (octokit/auth-app.js
  #65 and #161: the listing right after an install is the first use of the installation's
  first token), and asked again later it answers; a credential that is truly wrong is
  dead-lettered after HOOKWISE_MAX_ATTEMPTS, as before;
- the stored body cannot be read (deliveries.InvalidPayload from payload_of: not JSON, or
  nested deeper than ingest now takes, stored by a release before it checked), whoever reads;
- a handler could not read its payload: KeyError, TypeError, AttributeError or ValueError
  from a handler (a pull_request event without its pull_request object, a string where a
  number belongs, an id beyond a bigint), asyncpg.DataError, a value the store cannot hold,
  or RecursionError, a walk of a payload nested too deep for the stack. The same payload fails
  the same way on every attempt. So does a fault of ours raising one of these types (a
  handler's bug, or an answer a fetcher got that its handler misreads): its events are dead
  letters at once too, to be replayed once the fault is mended.
Transient, retried with backoff and dead-lettered after HOOKWISE_MAX_ATTEMPTS: the database or
a remote away or overloaded (clients.errors.Unavailable), a transaction that met another
(deadlock, serialization), and whatever is not told apart above (a worker of an older release
meeting a renamed column, an UndefinedColumnError, recovers once it is replaced).
A rate limit is neither: RetryLater gives the attempt back.
"""

from __future__ import annotations

from http import HTTPStatus

import asyncpg

from app.clients.errors import Refused, classify
from app.deliveries import InvalidPayload
from app.retry import RetryLater
from app.text import storable

# What reading a payload raises when it lacks what a handler needs or holds the wrong type.
PAYLOAD_ERRORS: tuple[type[Exception], ...] = (
    KeyError,
    TypeError,
    AttributeError,
    ValueError,
    asyncpg.DataError,
    # Deep payloads are refused at ingest (deliveries.MAX_DEPTH), so this would be a walk of
    # ours gone wrong; it recurses as deep on every attempt all the same.
    RecursionError,
)


def reason(exc: BaseException) -> str:
    """What a failure is recorded and shown as: a remote's in the words of its class in
    clients.errors (service, status, what it said), anything else as `Type: message`. Made
    storable (app/text.py): a message may quote what a remote answered, and a reason its
    column refuses would fail the recording of the failure itself."""
    remote = classify(exc)
    return storable(str(remote) if remote is not None else f"{type(exc).__name__}: {exc}")


def permanent(exc: BaseException, *, handler: bool) -> bool:
    """Whether `exc` fails the event for good. `handler`: it came from the event's handlers
    (inside its transaction, with no network), not from a fetcher or the database's absence."""
    if isinstance(exc, RetryLater):
        return False
    if isinstance(exc, InvalidPayload):
        return True
    remote = classify(exc)
    if isinstance(remote, Refused):
        # GitHub's 401 only: another service's is a key that is wrong, and stays so.
        return not (remote.service == "GitHub" and remote.status == HTTPStatus.UNAUTHORIZED)
    return handler and isinstance(exc, PAYLOAD_ERRORS)

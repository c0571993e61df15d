"""Refused requests: counted always, logged at most once a minute per client address.

A flood of forged requests must not become a flood of log lines (which costs as much as the
requests and hides everything else), yet each sender should show up once with how many of its
requests were refused meanwhile.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

from starlette.types import Scope

from app.deliveries import WebhookError

log = logging.getLogger("app.http.errors")

# Addresses remembered at once: a spoofed-address flood cannot grow the table without bound.
MAX_ADDRESSES = 10_000


def client_address(scope: Scope, trusted_header: str | None) -> str:
    """The client's address: the trusted proxy header's value when one is set and present
    (Fly.io's `Fly-Client-IP`, for instance), else the peer of the connection, else "-"."""
    if trusted_header:
        wanted = trusted_header.lower().encode("latin-1")
        for name, value in scope["headers"]:
            if name == wanted:
                return value.decode("latin-1").strip()[:64] or "-"
    client = scope.get("client")
    return client[0] if client else "-"


@dataclass
class _Seen:
    logged_at: float
    suppressed: int = 0


class RefusalLog:
    """Decides which refusals are logged: the first from an address, then one a minute."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._seen: collections.OrderedDict[str, _Seen] = collections.OrderedDict()

    def log(self, exc: WebhookError, *, method: str, path: str, client: str, now: float) -> None:
        seen = self._seen.get(client)
        if seen is not None and now - seen.logged_at < self.every:
            seen.suppressed += 1
            return
        suppressed = seen.suppressed if seen else 0
        self._seen[client] = _Seen(now)
        self._seen.move_to_end(client)
        while len(self._seen) > MAX_ADDRESSES:
            self._seen.popitem(last=False)
        log.warning(
            "refused %s %s from %s: %s (%d)%s",
            method,
            path,
            client,
            exc.reason,
            exc.status_code,
            f"; {suppressed} more refused since the last line" if suppressed else "",
            extra={
                "action": "webhook_refused",
                "status": exc.status_code,
                "reason": exc.kind,
                "client": client,
                "suppressed": suppressed,
            },
        )

"""How many bytes of request bodies one web process holds in memory at once.

Anyone on the internet can send hookwise a body; only after the last byte is the signature
known to be wrong. So bodies are read against a budget (HOOKWISE_MAX_INFLIGHT_BYTES) in two lanes,
so that small deliveries — nearly all of GitHub's — are never starved by large ones:

- the large lane (a declared body over HOOKWISE_LARGE_BODY_BYTES, or a chunked body, which counts
  as the largest allowed) admits a request only once its whole declared size is free: a flood of
  25 MB bodies is read one or two at a time, the rest refused before a byte is read;
- the small lane counts the bytes as they arrive, so a thousand connections trickling a byte a
  second hold a thousand bytes, not a thousand reservations.

A request that cannot get its bytes within a short wait is refused (app.deliveries.Busy, 503
with Retry-After); the bytes are given back when its answer has been sent.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass


class ByteBudget:
    """A weighted semaphore over bytes, first come first served.

    `acquire(n, wait=s)` returns True once n bytes are taken, False if they were not free
    within `s` seconds (nothing is then taken). Waiters are served in order, so a large
    request at the head is never overtaken forever by small ones.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("a budget needs a positive capacity")
        self.capacity = capacity
        self.free = capacity
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @property
    def used(self) -> int:
        return self.capacity - self.free

    async def acquire(self, n: int, *, wait: float) -> bool:
        if n > self.capacity:
            return False
        if not self._waiters and n <= self.free:
            self.free -= n
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), wait)
        except TimeoutError:
            if waiter.done():  # granted in the same instant it timed out
                return True
            self._waiters.remove(entry)
            self._wake()  # those behind it may fit now
            return False
        except asyncio.CancelledError:
            if waiter.done():
                self.release(n)
            else:
                self._waiters.remove(entry)
                self._wake()
            raise
        return True

    def release(self, n: int) -> None:
        self.free += n
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.free:
            n, waiter = self._waiters.popleft()
            self.free -= n
            waiter.set_result(None)


@dataclass
class Lanes:
    """The process's two budgets, and where a request's body belongs."""

    large: ByteBudget
    small: ByteBudget
    threshold: int
    wait: float

    @classmethod
    def sized(cls, small: int, large: int, *, threshold: int, wait: float) -> Lanes:
        return cls(ByteBudget(large), ByteBudget(small), threshold, wait)

    def is_large(self, declared: int | None) -> bool:
        return declared is None or declared > self.threshold

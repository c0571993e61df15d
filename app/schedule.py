"""A job run every so often beside the worker (redelivery now, reconciliation later)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Every:
    """Run `job` now and then every `seconds` until stopped; a failing run is logged, not fatal."""

    def __init__(self, seconds: float, job: Callable[[], Awaitable[object]], *, name: str) -> None:
        self.seconds = seconds
        self.job = job
        self.name = name
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.job()
            except Exception:
                log.exception("scheduled %s failed", self.name, extra={"action": "schedule_failed"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.seconds)

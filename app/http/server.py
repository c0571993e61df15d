"""Running the app on uvicorn, with hookwise (not uvicorn) owning the process's signals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class Server(uvicorn.Server):
    # uvicorn's own handlers re-raise the signal once it has stopped, which would end the process
    # before the embedded database is stopped; app/signals.py sets should_exit instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        """Begin a graceful shutdown; safe to call again. It is bounded by
        timeout_graceful_shutdown, so no second call needs to force it (forcing would skip the
        app's own shutdown)."""
        self.should_exit = True


def make_server(app: ASGIApp, *, host: str, port: int) -> Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return Server(config)

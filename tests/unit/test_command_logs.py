"""The level each command logs at (app/cli.log_level): a command's answer is what it prints,
so only serve, worker and setup, whose log is their report, talk at INFO unless asked."""

from __future__ import annotations

import pytest

from app.cli import build_parser, log_level
from app.settings import Settings


@pytest.mark.parametrize(
    ("argv", "setting", "level"),
    [
        (["status"], None, "warning"),
        (["replay", "--status", "failed"], None, "warning"),
        (["migrate"], None, "warning"),
        (["status", "--verbose"], None, "info"),
        (["prune", "--before", "30d", "-v"], None, "info"),
        (["serve"], None, "info"),
        (["worker"], None, "info"),
        # setup's INFO line names the page to open: it is the command's output.
        (["setup"], None, "info"),
        # Set, the setting holds for every command; --verbose only ever adds lines.
        (["status"], "info", "info"),
        (["status"], "debug", "debug"),
        (["status", "-v"], "debug", "debug"),
        (["status", "-v"], "error", "info"),
        (["serve"], "error", "error"),
    ],
)
def test_each_command_logs_at_its_level(argv: list[str], setting: str | None, level: str) -> None:
    settings = Settings() if setting is None else Settings().with_env(HOOKWISE_LOG_LEVEL=setting)
    assert log_level(build_parser().parse_args(argv), settings.logging) == level

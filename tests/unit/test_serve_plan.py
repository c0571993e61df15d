"""Which processes `hookwise serve` runs (app/cli.serve_plan, app/processes.Plan): with one web
process, the worker runs in a process of its own whenever there is a second core for it."""

from __future__ import annotations

import pytest

from app.cli import build_parser, serve_plan
from app.processes import Plan, worker_apart
from app.settings import Settings


@pytest.mark.parametrize(
    ("setting", "cores", "apart"),
    [(None, 1, False), (None, 2, True), (None, 8, True), (False, 2, False), (True, 1, True)],
)
def test_a_lone_worker_goes_apart_when_there_is_a_core_for_it_unless_told(
    setting: bool | None, cores: int, apart: bool
) -> None:
    assert worker_apart(setting, cores) is apart


@pytest.mark.parametrize(
    ("plan", "single"),
    [
        (Plan(web=1, workers=1, apart=False), True),
        (Plan(web=1, workers=0, apart=True), True),
        (Plan(web=1, workers=1, apart=True), False),
        (Plan(web=1, workers=2, apart=False), False),
        (Plan(web=2, workers=1, apart=False), False),
    ],
)
def test_one_process_does_it_all_only_when_the_worker_stays_on_the_web_loop(
    plan: Plan, single: bool
) -> None:
    assert plan.single is single


def test_serve_takes_the_setting_and_no_worker_leaves_the_worker_out() -> None:
    parser = build_parser()
    together = Settings().with_env(HOOKWISE_WORKER_APART="0")
    assert serve_plan(together, parser.parse_args(["serve", "--workers", "1"])) == Plan(
        web=1, workers=1, apart=False
    )
    apart = Settings().with_env(HOOKWISE_WORKER_APART="1")
    assert serve_plan(apart, parser.parse_args(["serve", "--workers", "1"])).single is False
    assert serve_plan(apart, parser.parse_args(["serve", "--workers", "1", "--no-worker"])).single

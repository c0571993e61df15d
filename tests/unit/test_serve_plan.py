"""Which processes `hookwise serve` runs (app/cli.serve_plan, app/processes.Plan): one process
for one web process and its worker, unless HOOKWISE_WORKER_APART asks for the worker apart."""

from __future__ import annotations

import pytest

from app.cli import build_parser, serve_plan
from app.processes import Plan
from app.settings import Settings


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
    one = parser.parse_args(["serve", "--workers", "1"])
    assert serve_plan(Settings(), one) == Plan(web=1, workers=1, apart=False)
    apart = Settings().with_env(HOOKWISE_WORKER_APART="1")
    assert serve_plan(apart, one) == Plan(web=1, workers=1, apart=True)
    alone = parser.parse_args(["serve", "--workers", "1", "--no-worker"])
    assert serve_plan(apart, alone).single

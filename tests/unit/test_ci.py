"""CI runs what the README tells a developer to run, and nothing the README does not say."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = '# The README\'s "Test" commands'


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Test\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README's Test section has no sh block"
    return [line for line in block[1].splitlines() if line.strip()]


def ci_commands() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text()
    assert MARKER in text, f".ci/run has no line starting {MARKER!r}"
    after = text.split(MARKER, 1)[1].split("\n", 1)[1]
    return [line for line in after.splitlines() if line.strip()]


def test_ci_runs_the_readmes_test_commands():
    assert ci_commands() == readme_commands()


def test_the_readme_runs_linters_and_type_checks_before_the_tests():
    assert readme_commands() == [
        "ruff check",
        "ruff format --check",
        "mypy --strict app",
        "pytest -n 3 --dist loadfile",
    ]

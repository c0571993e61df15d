"""Drills print their figures in a section of pytest's summary, so CI shows them without -s."""

from __future__ import annotations

import pytest

FIGURES = pytest.StashKey[list[str]]()


class Figures:
    """Collects one drill's figures; they are printed at the end of the run, pass or fail."""

    def __init__(self, lines: list[str], drill: str) -> None:
        self.lines = lines
        self.drill = drill

    def __call__(self, text: str) -> None:
        self.lines.append(f"{self.drill}: {text}")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.config.stash.setdefault(FIGURES, []), request.node.name)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("drill figures")
        for line in lines:
            terminalreporter.write_line(line)

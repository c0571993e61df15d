"""Drills print their figures in a section of pytest's summary, so CI shows them without -s.

A figure travels with the test's report (its user_properties), which pytest-xdist carries from
the process that ran the drill to the one that prints the summary (tests/conftest.py).
"""

from __future__ import annotations

import pytest

# The name a figure goes by among a report's user_properties.
FIGURE = "drill figure"


class Figures:
    """Collects one drill's figures; they are printed at the end of the run, pass or fail."""

    def __init__(self, item: pytest.Item) -> None:
        self.item = item

    def __call__(self, text: str) -> None:
        self.item.user_properties.append((FIGURE, f"{self.item.name}: {text}"))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node)

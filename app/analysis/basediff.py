"""Base-branch differencing: drop from a failing job log what its last green run also printed.

Sans-I/O: two logs go in as strings, a shorter log comes out, ready for `excerpt.cut`.

A build log is mostly the same from one run to the next: the runner's banner, checkout, the
dependency downloads, the compiler's progress, the hundreds of passing tests. What the failing
run printed and the base branch's last green run of the same job did not is where the failure
is, so whatever the tool (even one no pattern in `excerpt` knows) its words come first. The idea
is build-log differencing as in Amar and Rigby, "Mining historical test logs to predict bugs and
localize faults in the test logs" (ICSE 2019): a line of the failing log is dropped when its
normalised form is among the green log's.

Normalising (`line_key`) removes what differs between two runs of one job without meaning
anything: the Actions timestamp and ANSI codes (`excerpt.clean`), clock times and dates, hex ids
(commit shas, uuids, object addresses), durations, sizes and transfer rates, progress
percentages, temporary paths and numbers of five digits or more (pids, build and run ids). Small
counts stay: `1 tests failed out of 3` is not `0 tests failed out of 3`.

Kept whatever the base says: blank lines (they cost nothing and part blocks), `##[group]`
titles (steps stay steps), the `##[error]` lines, and lines that only say where
(`excerpt.locates`: a failure's header, a frame): `pytest -rA` prints `____ test_x ____` over
a passing test's output in the green run and over its failure in the red one. A run of dropped
lines becomes one marker line, `… (N lines as on the base branch)`, so a reader knows
something was there.
"""

from __future__ import annotations

import re

from app.analysis.excerpt import clean, locates

__all__ = ["line_key", "new_since_base"]

_KEEP = ("##[group]", "##[error]")

_VARIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?Z?)?"), "<date>"),
    (re.compile(r"\b\d\d?:\d\d(?::\d\d)?(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x…"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,}\b"), "<hex>"),
    (re.compile(r"(?:/private)?/var/folders/\S*|/tmp/\S*|/home/runner/work/_temp/\S*"), "<tmp>"),
    (
        re.compile(
            r"\b\d+(?:[.,]\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h"
            r"|B|kB|KB|KiB|MB|MiB|GB|GiB|kB/s|MB/s|MBs/sec|KB/s|B/s)\b(?:/s(?:ec)?)?"
        ),
        "<n unit>",
    ),
    (re.compile(r"\[\s*\d+%\]|\b\d+(?:\.\d+)?%"), "<pct>"),
    (re.compile(r"\b\d{5,}\b"), "<id>"),
    (re.compile(r"\s+"), " "),
)


def line_key(line: str) -> str:
    """What of one raw log line must match for it to count as printed by both runs."""
    text = clean(line)
    for pattern, replacement in _VARIES:
        text = pattern.sub(replacement, text)
    return text.strip()


def _marker(n: int) -> str:
    return (
        f"… ({n} line as on the base branch)" if n == 1 else f"… ({n} lines as on the base branch)"
    )


def new_since_base(log: str, base_log: str) -> str:
    """`log` without the lines `base_log` also has, each run of them one marker line.

    `log` is the failing run's raw job log, `base_log` the raw log of the same job's last
    successful run on the pull request's base branch (same workflow and job name; for a
    third-party check run, its output and annotations as hookwise joins them). Both are text
    with `\\n` line ends, timestamps and colour codes as GitHub serves them. The result is a log
    in the same format, for `excerpt.cut`; lines are compared with `line_key`. An empty
    `base_log` returns `log` unchanged.
    """
    if not base_log.strip():
        return log
    base = {line_key(line) for line in base_log.split("\n")}
    lines = log.split("\n")
    trailing_newline = bool(lines) and lines[-1] == ""
    if trailing_newline:
        lines.pop()
    out: list[str] = []
    dropped = 0
    for line in lines:
        text = clean(line)
        shared = (
            bool(text.strip())
            and not text.startswith(_KEEP)
            and not locates(text)
            and line_key(line) in base
        )
        if shared:
            dropped += 1
            continue
        if dropped:
            out.append(_marker(dropped))
            dropped = 0
        out.append(line)
    if dropped:
        out.append(_marker(dropped))
    return "\n".join(out) + ("\n" if trailing_newline else "")

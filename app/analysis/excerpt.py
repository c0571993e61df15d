"""Cut a CI job log down to the lines that explain its failure, within a token budget.

Sans-I/O: a log goes in as a string, an `Excerpt` comes out; nothing here reads, fetches or
calls a model.

Every line of the log is cleaned (`clean`: no ANSI codes, no Actions timestamp) and ranked:

- HEADLINE names one failure on its own: pytest's `FAILED`/`ERROR` summary lines, `path:line:
  error:` from compilers, mypy and tsc, lint diagnostics (ruff, flake8, ESLint), an exception
  line (Python, Java, JS, Ruby), Maven's `[ERROR]` lines, a Gradle test's `> name FAILED`, Go's
  `path.go:line:col:` and `panic:`, Rust's `error[E…]:` and `panicked at`, Jest's `●`, RSpec's
  numbered failures, `CMake Error`, ctest's `***Failed`, a shell's `command not found`, a
  linker's undefined reference, TAP's `not ok`, an `##[error]` annotation other than the step's
  exit code, a check run annotation (`path:line: failure: …`).
- DETAIL carries the failure's content or its totals: pytest's `E   ` lines and result line,
  compiler notes, Rust's `left:`/`right:`, Jest's and RSpec's expected and received, `Found N
  errors`, `make: *** ... Error`, Gradle's `> …` causes, ctest's and test runners' totals.
- LOCATION says where: `____ test_x ____` headers, traceback frames, ruff's and rustc's `-->
  path:line:col`, Jest's code frame, the failing step's `Run ...` title, `Process completed
  with exit code N`.

The budget is filled in that order. Within a rank, a line that is new even after normalising
goes before one differing from an earlier line only in numbers (twenty `missing type
annotation` errors do not crowd out the one `not indexable`); exact repeats (one traceback for
three tests) wait until after the context. So when the important lines alone do not fit, the
headlines survive. What is left goes to context rings around the chosen lines, nearest first
and every anchor in turn, so a tight budget spreads over all failures rather than showing one
in full: up to 3 lines before and 8 after an anchor (for the exit code, the 8 lines before it:
the step's last words), or after it its whole block when that is longer (`_block_length`: the
lines more indented than the anchor, or in its paragraph: a stack trace, a compiler error with
its notes, a test failure with its assertion and diff; at most 30 lines). Then, budget left,
the rings widen (9 before, 40 after), then reach over the rest of the anchors' steps: a large
budget is used when the log has more to say. Context stays inside its step. Windows merge, and
a gap reads `… (N lines omitted)`. `##[group]` markers go and their titles stay;
`##[endgroup]` lines go. A log with no ranked line keeps its tail.

Sizes are estimated, not tokenised: `estimate_tokens` is ceil(characters / 4), about what
Anthropic's and OpenAI's tokenisers give for English and code. The cutter counts characters, so
an excerpt's estimate never exceeds its budget.

Before cutting, `app.analysis.basediff.new_since_base` can drop what the log shares with the
base branch's last green run of the same job.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from bisect import bisect_left, insort
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Excerpt", "clean", "cut", "estimate_tokens", "failure_signature", "locates"]

CHARS_PER_TOKEN = 4
# Minified bundles and base64 blobs put thousands of characters on one line; past this length
# a line says nothing more a reader would use.
MAX_LINE_CHARS = 500
_EXIT_CODE = "##[error]Process completed with exit code"


@dataclass(frozen=True, repr=False)
class Excerpt:
    """The lines of a log worth reading, with gaps marked.

    `kept` counts log lines in `text` (gap markers excluded), `total` the lines of the log, and
    `tokens` is `estimate_tokens(text)`.
    """

    text: str
    kept: int
    total: int
    tokens: int

    def __repr__(self) -> str:
        return f"Excerpt(kept={self.kept}, total={self.total}, tokens={self.tokens})"


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4): close enough for English and code, and free to compute."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


# --- cleaning ------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: hyperlinks, window titles
    r"|\x1b[@-Z\\-_]"  # the remaining two-character escapes
)


def clean(line: str) -> str:
    """One log line without the Actions timestamp prefix and ANSI escape codes."""
    line = _TIMESTAMP.sub("", line, count=1)
    line = _ANSI.sub("", line).rstrip("\r\n")
    if "\r" in line:
        # Progress bars redraw themselves after a carriage return; a terminal shows the last frame.
        line = line.rsplit("\r", 1)[-1]
    return line


# --- ranking -------------------------------------------------------------------------------------


class Rank(IntEnum):
    NONE = 0
    LOCATION = 1
    DETAIL = 2
    HEADLINE = 3


_PATH = r"(?:[A-Za-z]:)?[^\s:]+"  # a drive letter is the only colon a path may hold
_PROGRESS = r"\S::\S+ (?:FAILED|ERROR)\b"  # pytest -v: `tests/x.py::test_y FAILED  [ 50%]`

# Patterns anchored at the start of a cleaned line, tried with `match`; the few that can sit
# anywhere are kept apart so that most lines are rejected after a character or two.
_AT_START: dict[Rank, list[str]] = {
    Rank.HEADLINE: [
        r"##\[error\](?!Process completed with exit code)",
        r"(?:FAILED|ERROR)[ :]",  # pytest's short summary; pip's fatal errors
        rf"{_PATH}:\d+(?::\d+)?:\s*(?:fatal )?(?:error|failure)\b",  # gcc, mypy; annotations
        rf"{_PATH}:\d+:\d+(?::| -) error\b",  # tsc --pretty
        rf"{_PATH}\(\d+,\d+\): error\b",  # tsc
        r"(?:fatal )?error(?:\[[\w-]+\])?: ",  # rustc, cargo, mypy's usage errors
        rf"{_PATH}:\d+:\d+: [A-Z]{{1,4}}\d{{2,4}}\b",  # ruff concise, flake8, pylint
        r"[A-Z]{1,4}\d{2,4}(?: \[\*\])? \S",  # ruff's full format: the rule header
        # An exception: `ValueError: x`, `java.lang.NullPointerException`, indented in a
        # Gradle or RSpec report, `at` in Gradle's short format.
        r"\s*(?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*(?:Error|Exception|Exit|Interrupt|Failure)"
        r"(?::\s|:?$|\s+at\s)",
        r"Error: ",  # node, actions
        r"\s*not ok \d+",  # TAP
        r"\s*--- FAIL: ",  # go test
        r"panic: ",  # go
        rf"{_PATH}\.go:\d+:\d+: ",  # go build, go vet
        r"\*\*\* Error compiling ",  # python -m compileall
        # Maven: every [ERROR] but its closing advice.
        r"\[ERROR\] (?!\s*$|To see the full stack trace|Re-run Maven using|For more information"
        r"|\[Help \d|-> \[Help|After correcting the problems)",
        r"\S+ > .+ FAILED$",  # gradle test
        r"Execution failed for task ",  # gradle
        r"assertion .*failed",  # rust
        r"\s*● ",  # jest
        r"\s+\d+:\d+\s+error\s",  # eslint stylish
        r"\s+\d+\) \S",  # rspec
        r"rspec \./\S+:\d+ ",
        r"An error occurred (?:while loading|in a `before)",  # rspec
        r"CMake Error",
    ],
    Rank.DETAIL: [
        r"E(?:\s|$)",  # pytest's explanation lines; apt's `E: Unable to locate ...`
        r"=+ .*\b(?:failed|errors?)\b.* =+$",  # pytest's result line
        r"(?:!+ )?Interrupted: ",
        r"Found \d+ errors?\b",  # ruff, mypy, tsc
        r"\d+ errors? generated",  # clang
        r"g?make(?:\[\d+\])?: \*\*\* ",
        r"npm (?:ERR!|error) ",
        r"# fail [1-9]",  # TAP totals
        r"\s+(?:expected|actual|error|message|location|at): ",  # TAP's YAML diagnostics
        r"\s*FAIL\b",  # go test, jest, vitest
        r"\[INFO\] (?:BUILD FAILURE|\d+ errors?\b|.* FAILURE \[)",  # maven
        r"\d+ tests completed, \d+ failed",  # gradle
        r"FAILURE: |\* What went wrong:",  # gradle
        r"> (?:There were failing tests|Compilation failed|Could not |A failure occurred)",
        r":?\S*:\w+ FAILED$|> Task \S+ FAILED",  # gradle task
        r"warning: ",
        r"\s*= (?:note|help): |(?:note|help): ",  # rustc
        r"\s+(?:left|right): ",  # rust assert_eq
        r"test \S+ \.\.\. FAILED$|test result: FAILED",  # rust
        r"Tests:\s+\d+ failed|\s*(?:Test Files|Tests)\s+\d+ failed",  # jest, vitest
        r"\s*✕ ",  # jest --verbose
        r"\s+expect\(received\)|\s*(?:Expected|Received):",  # jest
        r"✖ \d+ problems?|\d+ problems?\b",  # eslint
        r"\s+Failure/Error: |\s+expected|\s+got: |\d+ examples?, \d+ failures?",  # rspec
        r"-- Configuring incomplete|The following tests FAILED:|Errors while running CTest",
        r"\d+% tests passed, \d+ tests? failed",  # ctest
        r"\s+\d+ - \S+ \((?:Failed|SEGFAULT|Timeout|Exception|Not Run)\)",
        r"cc1\w*: all warnings being treated as errors",
    ],
    Rank.LOCATION: [
        r"_{3,} .+ _{3,}$",  # pytest: one failure's header
        r"=+ (?:FAILURES|ERRORS|short test summary info) =+$",
        r"Traceback \(most recent call last\):",
        r'\s*File ".+", line \d+',
        r">\s{2,}\S",  # pytest: the statement that raised
        rf"{_PATH}\.py:\d+: (?:in \S+|\w+)$",  # pytest: `tests/test_x.py:12: AssertionError`
        rf"\s*--> {_PATH}:\d+",  # ruff, rustc
        r"In file included from ",
        re.escape(_EXIT_CODE),
        r"---- \S+ stdout ----$|failures:$",  # rust test
        r"goroutine \d+ \[running\]:|# [\w.-]+(?:/[\w.-]+)+$",  # go: a panic, a package
        r"\s+> \d+ \|",  # jest's code frame
        r"\s*\u276f \S+:\d+:\d+",  # vitest's pointer to the failing line
        r"\s+# \./\S+:\d+",  # rspec
        r"/\S+\.(?:js|jsx|ts|tsx|mjs|cjs|vue)$",  # eslint stylish: the file
    ],
}
_ANYWHERE: dict[Rank, list[str]] = {
    Rank.HEADLINE: [
        r"undefined reference to|undefined symbol|symbol\(s\) not found",
        r"\.java:\d+: error: ",  # javac under gradle: `:compileJava/…/X.java:3: error: …`
        r"panicked at ",  # rust
        r"\*\*\*(?:Failed|Exception)",  # ctest
        r": (?:command )?not found$|: unbound variable$|: No such file or directory$",  # sh
        r"no required module provides package",
    ],
    Rank.DETAIL: [
        _PROGRESS,
        r"collect2: error|ld returned \d+ exit status",
        r"\(FAILED - \d+\)$",  # rspec documentation format
        rf"{_PATH}:\d+:\d+: note: ",  # gcc
    ],
    Rank.LOCATION: [
        r": In (?:member )?function |: In instantiation of |required from here",
        r"ld: .*: in function ",
    ],
}
_RULES = [
    (
        rank,
        re.compile("|".join(f"(?:{p})" for p in _AT_START[rank])),
        re.compile("|".join(f"(?:{p})" for p in _ANYWHERE[rank])),
    )
    for rank in (Rank.HEADLINE, Rank.DETAIL, Rank.LOCATION)
]


def _rank(line: str) -> Rank:
    for rank, at_start, anywhere in _RULES:
        if at_start.match(line) or anywhere.search(line):
            return rank
    return Rank.NONE


def locates(line: str) -> bool:
    """Whether a cleaned line only says where: a failure's header (`____ test_x ____`), a frame,
    a `-->` pointer, the exit code. Such a line matters by its place, not its words."""
    return _rank(line) is Rank.LOCATION


def _window(line: str, rank: Rank, *, title: bool) -> tuple[int, int]:
    """How many context lines (before, after) an anchor deserves."""
    if line.startswith(_EXIT_CODE):
        # The failing step's last words sit just above its exit code.
        return 8, 0
    if title:
        return 0, 2
    if re.search(_PROGRESS, line):
        # pytest -v: the neighbours are other tests' PASSED lines.
        return 0, 0
    if rank is Rank.LOCATION:
        return 2, 6
    return 3, 8


# --- reading the log -----------------------------------------------------------------------------

_GROUP = "##[group]"
_ENDGROUP = "##[endgroup]"


@dataclass(frozen=True)
class _Log:
    lines: list[str]
    ranks: list[Rank]
    titles: frozenset[int]
    # Segments: a group (a step's header) is one, what the step printed the next; an exit code
    # closes a step. Context stays inside its segment, so a failure's window does not spill
    # into the step's `env:` block or the post-job cleanup.
    steps: list[int]
    total: int


def _read(log: str) -> _Log:
    raw = log.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    lines: list[str] = []
    titles: list[int] = []
    steps: list[int] = []
    step = 0
    for text in map(clean, raw):
        if text.startswith(_ENDGROUP):
            step += 1
            continue
        if text.startswith(_GROUP):
            # The title names the step ("Run pytest -q"); the marker itself is UI furniture.
            titles.append(len(lines))
            text = text[len(_GROUP) :]
            step += 1
        if len(text) > MAX_LINE_CHARS:
            text = text[: MAX_LINE_CHARS - 1] + "…"
        lines.append(text)
        steps.append(step)
        if text.startswith(_EXIT_CODE):
            step += 1
    ranks = [_rank(line) for line in lines]
    _rank_failing_step(ranks, titles)
    return _Log(lines, ranks, frozenset(titles), steps, len(raw))


def _rank_failing_step(ranks: list[Rank], titles: Sequence[int]) -> None:
    first = next((i for i, r in enumerate(ranks) if r >= Rank.DETAIL), None)
    if first is None:
        return
    before = bisect_left(titles, first)
    if before:
        ranks[titles[before - 1]] = max(ranks[titles[before - 1]], Rank.LOCATION)


# --- fitting -------------------------------------------------------------------------------------


# Room under which no further line is worth trying: a short line and a gap marker.
_FULL_MARGIN = 32


def _omitted(n: int) -> str:
    return f"… ({n} line omitted)" if n == 1 else f"… ({n} lines omitted)"


def _marker_cost(omitted: int) -> int:
    return len(_omitted(omitted)) + 1 if omitted else 0


class _Selection:
    """Chosen line numbers and the exact length of their rendering.

    Each part (line or gap marker) costs its length plus a newline; the rendered text drops the
    last newline, hence the `+ 1` on the limit.
    """

    def __init__(self, lines: Sequence[str], *, budget_chars: int) -> None:
        self.lines = lines
        self.limit = max(budget_chars, 0) + 1
        self.chosen: list[int] = []
        self.texts: dict[int, str] = {}
        self.cost = 0

    def _neighbours(self, i: int) -> tuple[int, int]:
        at = bisect_left(self.chosen, i)
        before = self.chosen[at - 1] if at else -1
        after = self.chosen[at] if at < len(self.chosen) else len(self.lines)
        return before, after

    def add(self, i: int) -> bool:
        if not 0 <= i < len(self.lines) or i in self.texts:
            return False
        before, after = self._neighbours(i)
        gaps = _marker_cost(i - before - 1) + _marker_cost(after - i - 1)
        old = _marker_cost(after - before - 1) if self.chosen else 0
        text = self.lines[i]
        delta = len(text) + 1 + gaps - old
        if self.cost + delta > self.limit:
            if self.chosen:
                return False
            # Nothing fits yet: a shortened first line still beats an empty excerpt.
            room = self.limit - 1 - gaps
            if room < 1:
                return False
            text = text[: room - 1] + "…"
            delta = len(text) + 1 + gaps
        insort(self.chosen, i)
        self.texts[i] = text
        self.cost += delta
        return True

    def full(self) -> bool:
        """No line of the log would fit any more, even a short one with its gap markers."""
        return self.limit - self.cost < _FULL_MARGIN

    def gaps_of_one(self) -> Iterator[int]:
        edges = [-1, *self.chosen, len(self.lines)]
        for before, after in itertools.pairwise(edges):
            if after - before == 2:
                yield before + 1

    def render(self) -> str:
        parts: list[str] = []
        previous = -1
        for i in [*self.chosen, len(self.lines)]:
            if self.chosen and i - previous > 1:
                parts.append(_omitted(i - previous - 1))
            if i < len(self.lines):
                parts.append(self.texts[i])
            previous = i
        return "\n".join(parts)


@dataclass(frozen=True)
class _Order:
    """Ranked lines in the order they get the budget (`first`); location lines far from any
    headline or detail (`far`: pytest -rA's `____ test_x ____` over each passing test), which
    wait until the failures have their context; exact repeats, which come last."""

    first: list[int]
    far: list[int]
    repeats: list[int]


def _in_order(log: _Log) -> _Order:
    """Within a rank, a line new even after normalising (`_normalise`: no line numbers,
    durations, addresses) goes before one that only differs from an earlier line in such
    numbers: twenty `missing type annotation` errors should not crowd out the one `not
    indexable`. Headline and detail lines of both kinds go before the exit code and step
    titles, which go before other location lines.
    """
    novel: dict[Rank, list[int]] = {rank: [] for rank in Rank}
    similar: dict[Rank, list[int]] = {rank: [] for rank in Rank}
    ends: list[int] = []
    repeats: list[int] = []
    exact: set[str] = set()
    normalised: set[str] = set()
    for i, (line, rank) in enumerate(zip(log.lines, log.ranks, strict=True)):
        if rank is Rank.NONE:
            continue
        key = " ".join(line.split())
        shape = _normalise(line)
        if rank is Rank.LOCATION and (i in log.titles or line.startswith(_EXIT_CODE)):
            ends.append(i)
        elif key in exact:
            repeats.append(i)
        else:
            (similar if shape in normalised else novel)[rank].append(i)
        exact.add(key)
        normalised.add(shape)
    important = sorted(
        [*novel[Rank.HEADLINE], *novel[Rank.DETAIL], *similar[Rank.HEADLINE]] + similar[Rank.DETAIL]
    )
    near: list[int] = []
    far: list[int] = []
    for i in [*novel[Rank.LOCATION], *similar[Rank.LOCATION]]:
        (near if not important or _near(important, i) else far).append(i)
    first = [
        *novel[Rank.HEADLINE],
        *novel[Rank.DETAIL],
        *similar[Rank.HEADLINE],
        *similar[Rank.DETAIL],
        *ends,
        *near,
    ]
    return _Order(first, far, sorted(repeats, key=lambda i: -log.ranks[i]))


# A location line this close to a headline or detail line (before it: a failure's header sits
# above the test's source) belongs to that failure.
_NEAR_BEFORE = 40
_NEAR_AFTER = 10


def _near(important: Sequence[int], i: int) -> bool:
    at = bisect_left(important, i)
    after = important[at] if at < len(important) else None
    before = important[at - 1] if at else None
    return (after is not None and after - i <= _NEAR_BEFORE) or (
        before is not None and i - before <= _NEAR_AFTER
    )


def cut(log: str, *, budget_tokens: int) -> Excerpt:
    """The failing lines of `log` with their context, in at most `budget_tokens` tokens.

    `log` is a raw job log (timestamps, ANSI codes and group markers are dealt with here).
    A budget too small for even one line gives a shortened first headline, or an empty text.
    """
    parsed = _read(log)
    selection = _Selection(parsed.lines, budget_chars=budget_tokens * CHARS_PER_TOKEN)
    order = _in_order(parsed)
    anchors = [i for i in order.first if selection.add(i)]
    if anchors:
        windows = [_reach(parsed, i) for i in anchors]
        _spread(selection, parsed, anchors, windows)
        far = [i for i in order.far if selection.add(i)]
        far_windows = [_reach(parsed, i) for i in far]
        if far:
            _spread(selection, parsed, far, far_windows)
        for i in order.repeats:
            selection.add(i)
        anchors += far
        windows += far_windows
        # Budget left: more of the same, further out, then the rest of the failing steps.
        wider = [(before * 3, max(after * 3, _MORE_AFTER)) for before, after in windows]
        _spread(selection, parsed, anchors, wider)
        _spread(selection, parsed, anchors, [_whole_step(parsed, i) for i in anchors])
    else:
        for i in reversed(range(len(parsed.lines))):
            if not selection.add(i):
                break
    # A one-line gap whose line is shorter than its marker costs nothing to show.
    for i in list(selection.gaps_of_one()):
        selection.add(i)
    text = selection.render()
    return Excerpt(
        text=text, kept=len(selection.chosen), total=parsed.total, tokens=estimate_tokens(text)
    )


def _reach(log: _Log, anchor: int) -> tuple[int, int]:
    """Context lines (before, after) for an anchor: its window, or its whole block if longer."""
    before, after = _window(log.lines[anchor], log.ranks[anchor], title=anchor in log.titles)
    if anchor in log.titles or log.lines[anchor].startswith(_EXIT_CODE):
        return before, after
    return before, max(after, _block_length(log, anchor))


def _whole_step(log: _Log, anchor: int) -> tuple[int, int]:
    """(before, after) reaching the first and last lines of the anchor's step."""
    step = log.steps[anchor]
    first = bisect_left(log.steps, step)
    last = bisect_left(log.steps, step + 1) - 1
    return anchor - first, last - anchor


def _spread(
    selection: _Selection, log: _Log, anchors: Sequence[int], windows: Sequence[tuple[int, int]]
) -> None:
    """Rings around every anchor, nearest first, so a tight budget covers every failure."""
    steps = log.steps
    for distance in range(1, max(max(w) for w in windows) + 1):
        if selection.full():
            return
        for anchor, (before, after) in zip(anchors, windows, strict=True):
            for i, reach in ((anchor - distance, before), (anchor + distance, after)):
                if distance <= reach and 0 <= i < len(steps) and steps[i] == steps[anchor]:
                    selection.add(i)


# --- blocks --------------------------------------------------------------------------------------

# A block (a stack trace, a compiler error with its notes, a test failure with its assertion and
# diff) is what follows its first line more indented, or in the same paragraph; past this many
# lines it is a log, not a block.
_BLOCK_LINES = 30
# How far after an anchor the leftover budget reaches before it goes to the anchor's whole step.
_MORE_AFTER = 40
_LEVEL = re.compile(r"\[(?:INFO|ERROR|WARNING|WARN|DEBUG|FATAL)\] ?")


def _shape(line: str) -> tuple[str, int, bool]:
    """(level prefix such as Maven's `[ERROR]`, indent after it, whether blank)."""
    level = _LEVEL.match(line)
    body = line[level.end() :] if level else line
    stripped = body.lstrip(" \t")
    indent = len(body) - len(stripped) + 3 * body[: len(body) - len(stripped)].count("\t")
    return (level[0].strip() if level else ""), indent, not stripped


def _block_length(log: _Log, anchor: int) -> int:
    level, indent, _ = _shape(log.lines[anchor])
    paragraph = True
    end = anchor
    j = anchor + 1
    limit = min(len(log.lines), anchor + 1 + _BLOCK_LINES)
    while j < limit and log.steps[j] == log.steps[anchor]:
        line_level, line_indent, blank = _shape(log.lines[j])
        if blank:
            # A blank line stays inside a block that goes on indented after it (jest, pytest).
            k = j + 1
            while k < limit and _shape(log.lines[k])[2]:
                k += 1
            if k >= limit or _shape(log.lines[k])[1] <= indent:
                break
            paragraph = False
        elif line_indent > indent or (
            paragraph and line_level in ("", level) and _heads(log, j, indent, limit)
        ):
            end = j
        else:
            break
        j += 1
    return end - anchor


def _heads(log: _Log, i: int, indent: int, limit: int) -> bool:
    """Whether a line at the block's own indent still belongs to it: ranked itself (the
    assertion under Rust's `panicked at`), or heading more indented lines (`stack backtrace:`)."""
    if log.ranks[i] is not Rank.NONE:
        return True
    k = i + 1
    while k < limit and _shape(log.lines[k])[2]:
        k += 1
    return k < limit and _shape(log.lines[k])[1] > indent


# --- signatures ----------------------------------------------------------------------------------

_NORMALISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x…"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<hex>"),  # commit shas, object ids
    (
        re.compile(
            r"(?:/private)?/var/folders/\S*|/tmp/\S*|\S*[\\/]AppData[\\/]Local[\\/]Temp[\\/]\S*"
        ),
        "<tmp>",
    ),
    # Each matrix entry installs its interpreter somewhere else.
    (re.compile(r"\S*[\\/](?:site|dist)-packages[\\/]"), ""),
    (re.compile(r"python\d+(?:\.\d+)+"), "python"),
    (re.compile(r"(?<=[\\/])\d+(?:\.\d+)+(?=[\\/])"), "<version>"),
    # Line numbers move with unrelated edits above the failure.
    (re.compile(r"(\.\w+):\d+(?::\d+)?"), r"\1:N"),
    (re.compile(r'(File "[^"]+", line )\d+'), r"\1N"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|secs?|seconds?|mins?|minutes?)\b"), "<duration>"),
    (re.compile(r"\[\s*\d+%\]"), ""),  # pytest -v progress
    (re.compile(r"\s+"), " "),
)


def _normalise(line: str) -> str:
    for pattern, replacement in _NORMALISE:
        line = pattern.sub(replacement, line)
    return line.strip()


def failure_signature(excerpt_text: str) -> str:
    """A short stable hash naming the failure an excerpt shows.

    Built from the excerpt's headline lines (else its detail lines, else all of it), normalised
    so that what differs between two runs of the same failure — durations, addresses,
    timestamps, temporary and interpreter paths, line numbers — does not count, while test names
    and messages do. Sorted, so the order failures were reported in (pytest-xdist) does not
    count either; totals such as `1 failed, 20 passed` are details and stay out when headlines
    exist, since skips differ between matrix entries.
    """
    lines = [
        clean(line)
        for line in excerpt_text.split("\n")
        if line.strip() and not _is_marker(clean(line))
    ]
    ranks = [_rank(line) for line in lines]
    for rank in (Rank.HEADLINE, Rank.DETAIL, Rank.NONE):
        chosen = {_normalise(line) for line, r in zip(lines, ranks, strict=True) if r >= rank}
        if chosen:
            break
    digest = hashlib.sha256("\n".join(sorted(chosen)).encode()).hexdigest()
    return digest[:16]


_MARKER = re.compile(r"^… \(\d+ lines? omitted\)$")


def _is_marker(line: str) -> bool:
    return _MARKER.match(line) is not None

"""The excerpt cutter against real failure logs: tests/data/logs, from tests/data/make_corpus.py.

Each `<name>.log` is a tool's real output wrapped as a GitHub Actions job log; `<name>.expected`
lists the lines a reader would point at. A 1500-token excerpt must keep all of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.analysis import excerpt as excerpt_module
from app.analysis.excerpt import Excerpt, clean, cut, estimate_tokens, failure_signature

LOGS = Path(__file__).parents[1] / "data" / "logs"
CORPUS = sorted(path.stem for path in LOGS.glob("*.log"))
BUDGET = 1500


def read(name: str) -> str:
    return (LOGS / f"{name}.log").read_text(encoding="utf-8")


def expected(name: str) -> list[str]:
    return (LOGS / f"{name}.expected").read_text(encoding="utf-8").splitlines()


def lines_of(result: Excerpt) -> set[str]:
    return set(result.text.split("\n"))


# --- clean ---------------------------------------------------------------------------------------


def test_clean_strips_the_timestamp_and_ansi_codes() -> None:
    raw = "2024-05-01T12:34:56.1234567Z \x1b[31mFAILED\x1b[0m tests/test_x.py::\x1b[1mtest_y\x1b[0m"
    assert clean(raw) == "FAILED tests/test_x.py::test_y"


def test_clean_keeps_everything_else() -> None:
    assert clean('  File "x.py", line 3, in f\n') == '  File "x.py", line 3, in f'
    # A timestamp inside the text is content, not a prefix.
    assert clean("at 2024-05-01T12:34:56Z the job") == "at 2024-05-01T12:34:56Z the job"
    assert clean("") == ""


def test_clean_handles_other_escapes_and_redraws() -> None:
    hyperlink = "\x1b]8;;https://example.com\x07link\x1b]8;;\x07 text"
    assert clean(hyperlink) == "link text"
    assert clean("\ufeff2024-05-01T00:00:00.0000000Z \x1b[1;31;40mE   boom\x1b[K") == "E   boom"
    # A progress bar shows its last frame.
    assert clean("Downloading  10%\rDownloading  55%\rDownloading 100%") == "Downloading 100%"


# --- the corpus ----------------------------------------------------------------------------------


def test_corpus_has_real_logs_with_ground_truth() -> None:
    assert len(CORPUS) >= 8
    for name in CORPUS:
        assert expected(name), name
        assert "##[group]Run " in read(name)


@pytest.mark.parametrize("name", CORPUS)
def test_keeps_every_failing_line_within_budget(name: str) -> None:
    log = read(name)
    result = cut(log, budget_tokens=BUDGET)
    missing = [line for line in expected(name) if line not in lines_of(result)]
    assert missing == []
    assert result.tokens <= BUDGET
    assert result.tokens == estimate_tokens(result.text)
    assert result.total == log.count("\n")
    # Far smaller than the log: the noise went.
    assert result.tokens < estimate_tokens(log) / 4


@pytest.mark.parametrize("name", CORPUS)
def test_gaps_account_for_every_line(name: str) -> None:
    log = read(name)
    result = cut(log, budget_tokens=BUDGET)
    omitted = 0
    for line in result.text.split("\n"):
        if line.startswith("… (") and line.endswith(" omitted)"):
            omitted += int(line.split()[1].lstrip("("))
    # Only the ##[endgroup] markers are dropped outright.
    assert result.kept + omitted == result.total - log.count("##[endgroup]")
    assert "##[endgroup]" not in result.text
    assert "##[group]" not in result.text


FIRST_ERROR = {
    "pytest_assert": "FAILED tests/test_cart.py::test_discount - assert 24.3 == 27.0",
    "pytest_matrix_py311": "FAILED tests/test_config.py::test_load_example - ",
    "mypy": "src/billing/legacy.py:4: error: Function is missing a type annotation",
    "ruff_concise": "src/inventory/report.py:8:5: E722 Do not use bare `except`",
    "gcc_compile": "src/main.c:10:25: error: invalid initializer",
    "gcc_link": "undefined reference to `crc32_combine'",
    "compileall": "*** Error compiling 'src/report/totals.py'...",
    "node_test": "not ok 17 - strips punctuation",
}


@pytest.mark.parametrize("name", sorted(FIRST_ERROR))
def test_tiny_budget_keeps_the_first_error(name: str) -> None:
    result = cut(read(name), budget_tokens=60)
    assert result.tokens <= 60
    assert FIRST_ERROR[name] in result.text


@pytest.mark.parametrize("budget", [0, 1, 3, 10, 25, 100, 500, 1000, 2000, 4000])
def test_never_exceeds_the_budget(budget: int) -> None:
    for name in CORPUS:
        result = cut(read(name), budget_tokens=budget)
        assert result.tokens <= budget, name
        assert result.tokens == estimate_tokens(result.text)
    assert cut(read(CORPUS[0]), budget_tokens=0).text == ""


def test_when_errors_exceed_the_budget_distinct_ones_come_first() -> None:
    # mypy: twenty `missing a type annotation` errors, then the interesting ones.
    result = cut(read("mypy"), budget_tokens=400)
    assert 'error: Value of type "str | None" is not indexable' in result.text
    assert 'Unexpected keyword argument "currency"' in result.text
    kept = [line for line in expected("mypy") if line in lines_of(result)]
    assert 0 < len(kept) < len(expected("mypy"))


def test_a_log_without_failures_keeps_its_tail() -> None:
    # The setup steps of a real log: checkout, setup-python, pip install; nothing failed yet.
    raw = read("pytest_assert").split("\n")[:250]
    result = cut("\n".join(raw), budget_tokens=300)
    assert result.tokens <= 300
    text = result.text.split("\n")
    assert text[-1] == clean(raw[-1])
    assert text[0].startswith("… (") and text[0].endswith(" lines omitted)")
    # One contiguous block after that marker.
    assert sum(line.startswith("… (") for line in text) == 1
    assert result.kept == len(text) - 1


def test_context_windows_merge_and_gaps_are_marked() -> None:
    noise = [f"2024-05-01T12:00:{i % 60:02d}.0000000Z step {i}: ok" for i in range(200)]
    noise[50] = "2024-05-01T12:00:50.0000000Z src/a.c:3:1: error: expected ';' before '}'"
    noise[53] = "2024-05-01T12:00:53.0000000Z src/a.c:9:1: error: unknown type name 'sizet'"
    noise[150] = "2024-05-01T12:02:30.0000000Z make: *** [Makefile:4: a.o] Error 1"
    result = cut("\n".join(noise), budget_tokens=200)
    lines = result.text.split("\n")
    # Two runs of lines, each around its errors, with the gaps marked.
    runs: list[list[str]] = [[]]
    omitted = []
    for line in lines:
        if line.startswith("… ("):
            omitted.append(int(line.split()[1].lstrip("(")))
            runs.append([])
        else:
            runs[-1].append(line)
    runs = [run for run in runs if run]
    assert len(runs) == 2
    # 47..61 around the two errors is one window: 3 before the first, 8 after the second.
    first = [clean(noise[i]) for i in range(47, 62)]
    assert " ".join(first) in " ".join(runs[0])
    assert " ".join(clean(noise[i]) for i in range(147, 159)) in " ".join(runs[1])
    assert result.kept + sum(omitted) == 200
    assert result.kept == len(runs[0]) + len(runs[1])
    # The budget left after the windows went to more of the same, not elsewhere.
    assert result.tokens > 150


def test_a_tight_budget_spreads_over_every_error_first() -> None:
    noise = [f"2024-05-01T12:00:{i % 60:02d}.0000000Z step {i}: ok" for i in range(200)]
    noise[50] = "2024-05-01T12:00:50.0000000Z src/a.c:3:1: error: expected ';' before '}'"
    noise[150] = "2024-05-01T12:02:30.0000000Z make: *** [Makefile:4: a.o] Error 1"
    result = cut("\n".join(noise), budget_tokens=60)
    lines = result.text.split("\n")
    assert clean(noise[50]) in lines
    assert clean(noise[150]) in lines
    # What is left goes to the nearest neighbours of both, not to one error's far context.
    assert clean(noise[51]) in lines
    assert clean(noise[151]) in lines
    assert clean(noise[60]) not in lines


def test_group_markers_go_but_the_failing_step_title_stays() -> None:
    result = cut(read("mypy"), budget_tokens=BUDGET)
    assert "Run mypy src" in lines_of(result)
    assert "Run actions/checkout@v4" not in lines_of(result)


# --- signatures ----------------------------------------------------------------------------------


def test_same_failure_on_two_python_versions_has_one_signature() -> None:
    py311 = cut(read("pytest_matrix_py311"), budget_tokens=BUDGET)
    py312 = cut(read("pytest_matrix_py312"), budget_tokens=BUDGET)
    assert py311.text != py312.text
    assert failure_signature(py311.text) == failure_signature(py312.text)
    # Nor does the budget change what failed.
    smaller = cut(read("pytest_matrix_py312"), budget_tokens=500)
    assert failure_signature(smaller.text) == failure_signature(py311.text)


def test_different_failures_have_different_signatures() -> None:
    signatures = {
        name: failure_signature(cut(read(name), budget_tokens=BUDGET).text) for name in CORPUS
    }
    distinct = set(signatures.values())
    # Every log but the matrix pair is its own failure.
    assert len(distinct) == len(CORPUS) - 1


def test_signature_ignores_what_varies_between_runs() -> None:
    one = (
        "FAILED tests/test_io.py::test_read - OSError: /tmp/pytest-of-runner/pytest-7/x0/a.txt\n"
        "E   OSError: cannot read <Reader at 0x7f3a2b1c0d90> after 0.52s\n"
        "tests/test_io.py:41: OSError\n"
        "=== 1 failed, 20 passed in 3.21s ==="
    )
    two = (
        "FAILED tests/test_io.py::test_read - OSError: /tmp/pytest-of-runner/pytest-9/x0/a.txt\n"
        "E   OSError: cannot read <Reader at 0x7f99aa00bb11> after 1.7s\n"
        "tests/test_io.py:44: OSError\n"
        "=== 1 failed, 19 passed, 1 skipped in 0.90s ==="
    )
    other_test = one.replace("test_read", "test_write")
    other_message = one.replace("cannot read", "cannot open").replace("OSError:", "IOError:")
    assert failure_signature(one) == failure_signature(two)
    assert failure_signature(one) != failure_signature(other_test)
    assert failure_signature(one) != failure_signature(other_message)
    # Order of reports (pytest-xdist) does not matter either.
    a, b = "FAILED t.py::test_a - x", "FAILED t.py::test_b - y"
    assert failure_signature(f"{a}\n{b}") == failure_signature(f"{b}\n{a}")


def test_signature_of_an_excerpt_without_errors_uses_its_text() -> None:
    assert failure_signature("just\nsome\nlines") != failure_signature("other\nlines")
    assert len(failure_signature("")) == 16


# --- shape ---------------------------------------------------------------------------------------


def test_excerpt_module_does_no_io() -> None:
    tree = ast.parse(Path(excerpt_module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    stdlib = "__future__ bisect collections dataclasses enum hashlib itertools math re"
    assert imported <= set(stdlib.split())


def test_excerpt_repr_leaves_out_the_text() -> None:
    result = cut(read("gcc_link"), budget_tokens=BUDGET)
    assert (
        repr(result) == f"Excerpt(kept={result.kept}, total={result.total}, tokens={result.tokens})"
    )

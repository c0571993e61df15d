"""`workflows:` of hookwise.yml: what parses, and every mistake with its file, line and reason."""

from __future__ import annotations

import textwrap

import pytest

from app.repo_config import RepoConfig
from app.repo_config import parse as parse_settings
from app.workflows.globs import matches
from app.workflows.spec import PATH, Workflow, parse

COOKBOOK = """\
review: true
workflows:
  label-docs:
    on:
      pull_request: [opened, synchronize]
    if:
      changed_paths: ["docs/**"]
    steps:
      - add_labels: docs
  welcome:
    on:
      pull_request: [opened]
    if:
      author_association: [FIRST_TIME_CONTRIBUTOR, FIRST_TIMER]
    steps:
      - comment: "Welcome @{{ author }}, and thanks for {{ title }}!"
  size-gate:
    on:
      pull_request:
    steps:
      - quality_gate:
          name: size
          max_lines_changed: 500
          max_files_changed: 20
  stale:
    on:
      schedule: "0 3 * * *"
      manual: true
    steps:
      - close_stale: {days: 30, comment: "Closing: no activity for 30 days."}
  linked-issue:
    on:
      pull_request: [opened, edited, synchronize, reopened]
    if:
      base_branch: main
    steps:
      - quality_gate: {name: linked issue, require_linked_issue: true}
"""


def test_the_cookbook_parses_without_problems() -> None:
    declared = parse(COOKBOOK)
    assert declared.problems == []
    assert sorted(declared.workflows) == [
        "label-docs",
        "linked-issue",
        "size-gate",
        "stale",
        "welcome",
    ]
    size = declared.workflows["size-gate"]
    assert size.on.pull_request == ["opened", "reopened", "synchronize", "ready_for_review"]
    assert size.steps[0].action == "quality_gate"
    assert size.steps[0].args["max_lines_changed"] == 500
    assert declared.workflows["label-docs"].steps[0].args == ["docs"]
    assert declared.workflows["linked-issue"].if_.base_branch == ["main"]
    assert declared.lines["welcome"] == 10


def test_a_stored_workflow_reads_back_the_same() -> None:
    for workflow in parse(COOKBOOK).workflows.values():
        stored = workflow.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert Workflow.model_validate(stored) == workflow


BASE = RepoConfig(False, False, "suggest", 3, "m", 4096, 10)


def test_the_rest_of_the_file_still_configures_reactions() -> None:
    base = BASE
    assert parse_settings(COOKBOOK, base).review is True
    assert parse_settings(COOKBOOK, base).error is None


def problems(text: str) -> list[str]:
    return [str(p) for p in parse(textwrap.dedent(text)).problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
            workflows:
              w:
                on:
                  push: [main]
                steps: [ai_review]
            """,
            f"{PATH}:4: w: unknown trigger 'push' in on",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: [opend]}
                steps: [ai_review]
            """,
            f"{PATH}:3: w: on.pull_request[0]: Input should be 'opened'",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                if:
                  colour: red
                steps: [ai_review]
            """,
            f"{PATH}:5: w: unknown condition 'colour' in if",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                if: {title: "(unclosed"}
                steps: [ai_review]
            """,
            f"{PATH}:4: w: if.title: not a valid regular expression",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                steps:
                  - add_labels: [x]
                  - make_coffee: true
            """,
            f"{PATH}:6: w: unknown step action 'make_coffee' in steps[1]",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                steps:
                  - comment: "Hello {{ nobody }}"
            """,
            f"{PATH}:5: w: steps[0].comment.body: unknown template field nobody",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                steps:
                  - add_labels: [x]
                    remove_labels: [y]
            """,
            f"{PATH}:5: w: steps[0]: a step names exactly one action",
        ),
        (
            """\
            workflows:
              w:
                on:
                  schedule: "61 * * * *"
                steps:
                  - close_stale: {days: 3}
            """,
            f"{PATH}:4: w: on.schedule[0]: '61 * * * *' is not a valid cron line",
        ),
        (
            """\
            workflows:
              w:
                on: {schedule: "0 3 * * *"}
                steps:
                  - add_labels: [x]
            """,
            f"{PATH}:2: w: a schedule has no pull request",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: [opened]}
                steps:
                  - analyse_failure
            """,
            f"{PATH}:2: w: analyse_failure needs a check_run trigger",
        ),
        (
            """\
            workflows:
              w:
                on: {}
                steps: [ai_review]
            """,
            f"{PATH}:3: w: on: needs at least one trigger",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
            """,
            f"{PATH}:2: w: steps is required",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: }
                steps: [ai_review]
              w:
                on: {pull_request: }
                steps: [ai_review]
            """,
            f"{PATH}:5: duplicate key 'w'",
        ),
        (
            """\
            workflows:
              w:
                on: {pull_request: [opened
            """,
            f"{PATH}:4: not valid YAML",
        ),
        (
            """\
            workflows: [a, b]
            """,
            f"{PATH}:1: workflows: must map names to workflows",
        ),
        (
            """\
            workflows:
              "has space":
                on: {pull_request: }
                steps: [ai_review]
            """,
            f"{PATH}:2: workflow name 'has space'",
        ),
    ],
)
def test_each_mistake_is_named_with_its_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_u0000_anywhere_in_a_workflow_is_named_where_it_is() -> None:
    # YAML's "\0" escape: storing the file's workflows failed on it, every one of them.
    declared = parse(
        textwrap.dedent(
            """\
            workflows:
              good:
                on: {pull_request: [opened]}
                steps: [{add_labels: [good]}]
              in-a-key:
                on: {pull_request: [opened]}
                if: {"labels\\0": [a]}
                steps: [ai_review]
              in-a-list:
                on: {pull_request: [opened]}
                steps:
                  - add_labels: [a, "b\\0"]
            """
        )
    )
    assert sorted(declared.workflows) == ["good"]
    assert [str(p) for p in declared.problems] == [
        f"{PATH}:7: in-a-key: if.labels\\0 holds U+0000, which hookwise cannot store",
        f"{PATH}:12: in-a-list: steps[0].add_labels[1] holds U+0000, which hookwise cannot store",
    ]


def test_yaml_escapes_no_column_holds_are_named_and_a_pair_is_its_character() -> None:
    # PyYAML reads "\\ud800" as a lone surrogate and "\\ud83d\\ude00" as two halves: storing
    # either failed, and retried the whole file's sync as if it were a passing fault.
    declared = parse(
        textwrap.dedent(
            """\
            workflows:
              emoji:
                on: {pull_request: [opened]}
                steps: [{comment: "Thanks \\ud83d\\ude00"}]
              lone:
                on: {pull_request: [opened]}
                steps: [{add_labels: ["a\\udc00"]}]
              "bad\\0name":
                on: {pull_request: [opened]}
                steps: [ai_review]
              "bad\\ud800":
                on: {pull_request: [opened]}
                steps: [ai_review]
            """
        )
    )
    assert declared.workflows["emoji"].steps[0].args["body"] == "Thanks \U0001f600"
    assert sorted(declared.workflows) == ["emoji"]
    assert [str(p) for p in declared.problems] == [
        f"{PATH}:7: lone: steps[0].add_labels[0] holds a lone surrogate (\\udc00),"
        " which hookwise cannot store",
        f"{PATH}:8: workflow name 'bad\\x00name': letters, digits, '-', '_' and '.', up to 100",
        f"{PATH}:11: workflow name 'bad\\ud800': letters, digits, '-', '_' and '.', up to 100",
    ]
    # Kept (inactive) under their names as the file writes them, which any column holds.
    assert declared.broken == {"lone", "bad\\0name", "bad\\ud800"}
    assert [p.workflow for p in declared.problems] == ["lone", "bad\\0name", "bad\\ud800"]


def test_a_malformed_workflow_runs_nothing_while_the_others_stay() -> None:
    declared = parse(
        textwrap.dedent(
            """\
            workflows:
              good:
                on: {pull_request: [opened]}
                steps: [{add_labels: [ok]}]
              bad:
                on: {pull_request: [opened]}
                steps:
                  - add_labels: [fine]
                  - unknown_step: 1
            """
        )
    )
    assert list(declared.workflows) == ["good"]
    assert declared.broken == {"bad"}
    assert [p.line for p in declared.problems] == [9]


def test_a_file_without_workflows_declares_none() -> None:
    assert parse("review: true\n").workflows == {}
    assert parse("").problems == []
    assert parse("workflows:\n").problems == []


def alias_bomb(levels: int) -> str:
    """A hookwise.yml of about 60 bytes a level standing for 10^levels values: each list holds
    ten aliases of the one before."""
    lines = ["anchors:", "  - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"  - &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    lines += [
        "workflows:",
        "  w:",
        "    on: {pull_request: [opened]}",
        f"    steps: [{{add_labels: *a{levels - 1}}}]",
    ]
    return "\n".join(lines) + "\n"


def test_aliases_that_expand_past_the_limit_are_a_problem_on_their_line() -> None:
    # 400 bytes standing for 10^6 values: each walk of the file went through every one (4 s
    # here; 560 bytes for 10^9 stopped the worker, its memory growing), and any pull request
    # may propose such a file.
    declared = parse(alias_bomb(6))
    assert declared.workflows == {}
    # The list of 111,111 values, made of lists of 11,111.
    assert [str(p) for p in declared.problems] == [
        f"{PATH}:6: YAML aliases expand this to more than 100,000 values"
    ]


def test_aliases_within_the_limit_are_read_as_written() -> None:
    text = """\
    labels: &labels [bug, triage]
    workflows:
      a: {on: {pull_request: [opened]}, steps: [{add_labels: *labels}]}
      b: {on: {pull_request: [reopened]}, steps: [{add_labels: *labels}]}
    """
    declared = parse(textwrap.dedent(text))
    assert declared.problems == []
    assert set(declared.workflows) == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PyYAML composes a node containing itself; every walk of it recursed until the stack
        # ran out (RecursionError, retried as if it might pass).
        (
            "labels: &l [x, *l]\nworkflows:\n  w: {on: {pull_request: }, steps: [ai_review]}\n",
            f"{PATH}:1: a YAML alias refers to the value it is in",
        ),
        ("workflows: " + "[" * 1000 + "]" * 1000 + "\n", f"{PATH}:1: nested too deeply"),
    ],
)
def test_a_file_no_walk_can_finish_is_a_problem(text: str, expected: str) -> None:
    assert [str(p) for p in parse(text).problems] == [expected]
    assert parse_settings(text, BASE).error is not None


def test_settings_nested_too_deeply_are_refused_with_the_reason() -> None:
    # The admin's override is read by the same function: it answered 500.
    config = parse_settings("review: " + "[" * 1000 + "]" * 1000 + "\n", BASE)
    assert config.error == f"{PATH} is nested too deeply"
    assert config.review == BASE.review


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("main", "main", True),
        ("release/1.2", "release/*", True),
        ("release/1.2/x", "release/*", False),
        ("release/1.2/x", "release/**", True),
        ("docs/a/b.md", "docs/**", True),
        ("src/docs/a.md", "docs/**", False),
        ("a.md", "*.md", True),
        ("d/a.md", "*.md", False),
        ("d/a.md", "**.md", True),
        ("feat-1", "feat-?", True),
        ("a+b", "a+b", True),
    ],
)
def test_globs_read_as_github_actions_filters(value: str, pattern: str, expected: bool) -> None:
    assert matches(value, pattern) is expected


def test_the_readmes_cookbook_parses_without_problems() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("A cookbook:") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("\n```\n")]
    declared = parse(block)
    assert declared.problems == []
    assert list(declared.workflows) == [
        "label-docs",
        "welcome",
        "size-gate",
        "close-stale",
        "linked-issue",
    ]

"""`workflows:` of `.github/hookwise.yml`, parsed and validated without I/O.

    workflows:
      label-docs:
        on:
          pull_request: [opened, synchronize]
        if:
          changed_paths: ["docs/**"]
        steps:
          - add_labels: [docs]

Each workflow has `on:` (triggers: pull_request, check_run, pull_request_review, issue_comment,
schedule, manual), `if:` (conditions, all of which must hold) and `steps:` (built-in actions run
in order; `on_failure: continue` lets the next run after a refused one). Validation is pydantic's
(extra keys forbidden, so an unknown trigger, condition or step is an error); lines come from
PyYAML's composed node tree, which keeps each node's position: no second YAML library. A problem
is reported as (file, line, reason); a workflow with any problem is left out whole, so nothing
of it runs, while the file's other workflows still do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import yaml
from cronsim import CronSim, CronSimError
from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from app.text import each_string

PATH = ".github/hookwise.yml"
MAX_WORKFLOWS = 50
MAX_STEPS = 20
# Values a file may stand for once its aliases (`*name`) are expanded. An alias is a reference,
# so ten lists of ten aliases of the one before stand for 10^9 values in 500 bytes, and every
# walk of the file (its lines, the workflows' validation) went through each one: the worker
# stopped, its memory growing, on a file any pull request may propose. A file without aliases
# stands for what it holds, whatever its size.
MAX_EXPANDED = 100_000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

PullRequestAction = Literal[
    "opened",
    "reopened",
    "synchronize",
    "ready_for_review",
    "converted_to_draft",
    "edited",
    "closed",
    "labeled",
    "unlabeled",
]
# `pull_request:` with no list: the actions that mean "new code to look at".
DEFAULT_PR_ACTIONS = ("opened", "reopened", "synchronize", "ready_for_review")
Conclusion = Literal[
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
]
ReviewState = Literal["approved", "changes_requested", "commented"]
# GitHub's author_association values (webhook payloads, "author_association").
Association = Literal[
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIMER",
    "FIRST_TIME_CONTRIBUTOR",
    "MANNEQUIN",
    "MEMBER",
    "NONE",
    "OWNER",
]
# What a comment template may use: the pull request's fields.
TEMPLATE_FIELDS = frozenset(
    {
        "title",
        "number",
        "author",
        "author_association",
        "base_branch",
        "head_branch",
        "url",
        "repository",
        "labels",
        "draft",
        "changed_files",
        "additions",
        "deletions",
        "workflow",
    }
)
TEMPLATES = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


def _listed(value: Any) -> Any:
    """One value where a list is wanted: a list of one."""
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} is not a cron line of five fields (minute hour day month dow)")
    try:
        CronSim(value, datetime.now(UTC))
    except CronSimError as exc:
        raise ValueError(f"{value!r} is not a valid cron line: {exc}") from None
    return value


def _template(value: str) -> str:
    try:
        parsed = TEMPLATES.parse(value)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template error: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown template field {', '.join(unknown)}"
            f" (known: {', '.join(sorted(TEMPLATE_FIELDS))})"
        )
    return value


Names = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]], BeforeValidator(_listed)
]
Regex = Annotated[str, BeforeValidator(lambda v: _regex(v) if isinstance(v, str) else v)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Triggers


# check_run actions a workflow may start on: `completed` (with a conclusion), and the buttons
# of our own check runs (`requested_action`) and GitHub's "Re-run" of them (`rerequested`).
CheckRunAction = Literal["completed", "requested_action", "rerequested"]


class CheckRunOn(Strict):
    conclusions: Annotated[list[Conclusion], BeforeValidator(_listed)] = ["failure", "timed_out"]
    names: Names = []
    actions: Annotated[list[CheckRunAction], BeforeValidator(_listed)] = ["completed"]


class CommentOn(Strict):
    command: Annotated[str, Field(pattern=r"^/\S+( \S+)*$", max_length=100)]


def _check_run_short(value: Any) -> Any:
    """`check_run: [failure]` or `check_run: failure`: the conclusions."""
    if value is None:
        return {}
    if isinstance(value, str | list):
        return {"conclusions": value}
    return value


def _comment_short(value: Any) -> Any:
    return {"command": value} if isinstance(value, str) else value


class On(Strict):
    pull_request: Annotated[list[PullRequestAction], BeforeValidator(_listed)] | None = None
    check_run: Annotated[CheckRunOn, BeforeValidator(_check_run_short)] | None = None
    pull_request_review: Annotated[list[ReviewState], BeforeValidator(_listed)] | None = None
    issue_comment: Annotated[CommentOn, BeforeValidator(_comment_short)] | None = None
    schedule: (
        Annotated[
            list[Annotated[str, BeforeValidator(lambda v: _cron(v) if isinstance(v, str) else v)]],
            BeforeValidator(_listed),
        ]
        | None
    ) = None
    manual: bool = False

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        """`pull_request:` with nothing after it: the default actions; a bare `check_run:` or
        `pull_request_review:`: any failing run, any review."""
        if isinstance(data, Mapping):
            data = dict(data)
            if "pull_request" in data and data["pull_request"] is None:
                data["pull_request"] = list(DEFAULT_PR_ACTIONS)
            if "check_run" in data and data["check_run"] is None:
                data["check_run"] = {}
            if "pull_request_review" in data and data["pull_request_review"] is None:
                data["pull_request_review"] = ["approved", "changes_requested", "commented"]
        return data

    @model_validator(mode="after")
    def _something(self) -> On:
        if not self.events() and not self.schedule and not self.manual:
            raise ValueError("needs at least one trigger")
        return self

    def events(self) -> list[str]:
        """The webhook events this workflow listens to."""
        names = ("pull_request", "check_run", "pull_request_review", "issue_comment")
        return [name for name in names if getattr(self, name) is not None]


# Conditions


class If(Strict):
    base_branch: Names = []
    head_branch: Names = []
    labels: Names = []
    labels_absent: Names = []
    author: Names = []
    author_association: Annotated[list[Association], BeforeValidator(_listed)] = []
    draft: bool | None = None
    # Whether the author is a bot account (GitHub's user `type` "Bot").
    bot: bool | None = None
    changed_paths: Names = []
    min_files_changed: Count | None = None
    max_files_changed: Count | None = None
    min_lines_changed: Count | None = None
    max_lines_changed: Count | None = None
    title: Regex | None = None
    linked_issue: bool | None = None

    def needs_files(self) -> bool:
        """Conditions only the pull request's changed files answer: evaluated by the execution,
        since an event's transaction makes no network call."""
        return bool(self.changed_paths) or any(
            v is not None
            for v in (
                self.min_files_changed,
                self.max_files_changed,
                self.min_lines_changed,
                self.max_lines_changed,
            )
        )

    def empty(self) -> bool:
        return not self.model_dump(exclude_defaults=True)


# Steps


class Reviewers(Strict):
    reviewers: Names = []
    teams: Names = []

    @model_validator(mode="after")
    def _someone(self) -> Reviewers:
        if not self.reviewers and not self.teams:
            raise ValueError("request_reviewers needs reviewers or teams")
        return self


class Comment(Strict):
    body: Annotated[
        str,
        Field(min_length=1, max_length=60_000),
        BeforeValidator(lambda v: _template(v) if isinstance(v, str) else v),
    ]


class QualityGate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=60)] = "quality gate"
    max_lines_changed: Count | None = None
    max_files_changed: Count | None = None
    forbidden_paths: Names = []
    require_linked_issue: bool = False
    require_description: bool = False
    title_pattern: Regex | None = None

    @model_validator(mode="after")
    def _some_rule(self) -> QualityGate:
        rules = (
            self.max_lines_changed,
            self.max_files_changed,
            self.title_pattern,
        )
        flags = (self.forbidden_paths, self.require_linked_issue, self.require_description)
        if all(rule is None for rule in rules) and not any(flags):
            raise ValueError("quality_gate needs at least one rule")
        return self


class CloseStale(Strict):
    days: Annotated[int, Field(ge=1, le=3650)]
    comment: (
        Annotated[str, BeforeValidator(lambda v: _template(v) if isinstance(v, str) else v)] | None
    ) = None
    labels_absent: Names = []


class Nothing(Strict):
    """A step with no arguments: `- ai_review:` or `- ai_review: {}`."""


def _nothing(value: Any) -> Any:
    return {} if value is None or value is True else value


def _reviewers_short(value: Any) -> Any:
    return {"reviewers": value} if isinstance(value, str | list) else value


def _comment_body(value: Any) -> Any:
    return {"body": value} if isinstance(value, str) else value


NoArgs = Annotated[Nothing, BeforeValidator(_nothing)]

# Actions a step may name, and whether each works on a pull request or on the repository.
PR_ACTIONS = (
    "add_labels",
    "remove_labels",
    "comment",
    "request_reviewers",
    "assign",
    "quality_gate",
    "ai_review",
    "analyse_failure",
    "tell_linear",
)
REPO_ACTIONS = ("close_stale",)
ACTIONS = PR_ACTIONS + REPO_ACTIONS


class Step(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    on_failure: Literal["stop", "continue"] = "stop"
    add_labels: Names | None = None
    remove_labels: Names | None = None
    comment: Annotated[Comment, BeforeValidator(_comment_body)] | None = None
    request_reviewers: Annotated[Reviewers, BeforeValidator(_reviewers_short)] | None = None
    assign: Names | None = None
    quality_gate: QualityGate | None = None
    ai_review: NoArgs | None = None
    analyse_failure: NoArgs | None = None
    tell_linear: NoArgs | None = None
    close_stale: CloseStale | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_actions(cls, data: Any) -> Any:
        """`- ai_review` (a bare word) and `- ai_review:` (null) both mean the step."""
        if isinstance(data, str) and data in ACTIONS:
            return {data: {}}
        if isinstance(data, Mapping):
            data = dict(data)
            for key in ("ai_review", "analyse_failure", "tell_linear"):
                if key in data and data[key] is None:
                    data[key] = {}
        return data

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a step names exactly one action of: {', '.join(ACTIONS)}"
                + (f" (this one names {', '.join(given)})" if given else "")
            )
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def args(self) -> Any:
        value = getattr(self, self.action)
        return value.model_dump() if isinstance(value, BaseModel) else value

    @property
    def title(self) -> str:
        return self.name or self.action


class Workflow(Strict):
    description: Annotated[str, Field(max_length=1000)] = ""
    on: On
    if_: If = Field(default_factory=If, alias="if")
    steps: Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]

    @model_validator(mode="after")
    def _coherent(self) -> Workflow:
        actions = {step.action for step in self.steps}
        on_pulls = bool(self.on.events())
        if self.on.schedule and actions & set(PR_ACTIONS):
            raise ValueError(
                "a schedule has no pull request: its steps can only be " + ", ".join(REPO_ACTIONS)
            )
        if actions & set(REPO_ACTIONS) and on_pulls:
            raise ValueError(
                f"{', '.join(REPO_ACTIONS)} works on the repository: trigger it with "
                "schedule or manual, not a pull request event"
            )
        if "analyse_failure" in actions and self.on.check_run is None:
            raise ValueError("analyse_failure needs a check_run trigger (the failing check)")
        if self.on.schedule and not on_pulls and not self.if_.empty():
            raise ValueError("if: conditions are about a pull request; a schedule has none")
        return self


# Parsing with lines


@dataclass(frozen=True)
class Problem:
    """One mistake in the file: where, and why; `workflow` when it belongs to one."""

    file: str
    line: int
    reason: str
    workflow: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Declared:
    """The workflows of one file that may run, and every problem found in it."""

    workflows: dict[str, Workflow] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Named in the file but left out for a problem: their earlier versions stop too.
    broken: frozenset[str] = frozenset()
    # Their lines, for annotations and the admin.
    lines: Mapping[str, int] = field(default_factory=dict)


Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """Mapping keys are taken as written: YAML 1.1 reads a bare `on` as true (the GitHub
    Actions trap), and `on:` must stay `on`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key: Any = key_node.value
            else:
                key = self.construct_object(key_node, deep=deep)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)


def _lines(
    node: yaml.Node, path: Path, into: dict[Path, int], dupes: list[tuple[Path, int]]
) -> None:
    into[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            if key in seen:
                dupes.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            # A key's line is the line of the key: a block value starts on the next one.
            _lines(value_node, (*path, key), into, dupes)
            into[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), into, dupes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Cycle(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def alias_problem(root: yaml.Node) -> tuple[int, str] | None:
    """(line, reason) when `root`'s aliases make it unreadable: a node containing itself
    (which PyYAML composes), or more than MAX_EXPANDED values once they are expanded, at the
    node where that first happens while none of its parts alone does (where the aliases pile
    up); None otherwise (always, without aliases). Each distinct node is counted once, so this
    takes time in the file's size, not in what it expands to."""
    sizes: dict[int, int] = {}
    walking: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in walking:
            raise _Cycle(node)
        walking.add(id(node))
        # Bounded: a larger total is only compared with the limit.
        known = min(1 + sum(size(child) for child in _children(node)), MAX_EXPANDED + 1)
        walking.discard(id(node))
        sizes[id(node)] = known
        return known

    try:
        if size(root) <= MAX_EXPANDED:
            return None
    except _Cycle as cycle:
        return cycle.node.start_mark.line + 1, "a YAML alias refers to the value it is in"
    node = root
    while True:
        larger = next((c for c in _children(node) if size(c) > MAX_EXPANDED), None)
        if larger is None:
            reason = f"YAML aliases expand this to more than {MAX_EXPANDED:,} values"
            return node.start_mark.line + 1, reason
        node = larger


def line_of(lines: Mapping[Path, int], path: Path) -> int:
    """The line of the deepest part of `path` the file has (pydantic's error locations add
    union members and validator names that are not keys of the file)."""
    found: Path = ()
    for part in path:
        if (*found, part) in lines:
            found = (*found, part)
    return lines.get(found, 1)


def parse(text: str, *, file: str = PATH) -> Declared:
    """The `workflows:` of a hookwise.yml: those without problems, and every problem with its
    line. The rest of the file (review:, fix: …) is app/repo_config.py's."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return Declared(problems=[Problem(file, line, f"not valid YAML: {problem}")])
    except RecursionError:
        # PyYAML composes by recursion: a few hundred `[` deep exhaust Python's stack.
        return Declared(problems=[Problem(file, 1, "nested too deeply")])
    if node is None or not isinstance(data, dict) or "workflows" not in data:
        return Declared()
    aliased = alias_problem(node)
    if aliased is not None:
        return Declared(problems=[Problem(file, *aliased)])
    lines: dict[Path, int] = {}
    dupes: list[tuple[Path, int]] = []
    _lines(node, (), lines, dupes)
    # Walked again where an alias shares a value, which changes nothing (bounded above).
    declared = each_string(data["workflows"], _joined)
    if declared is None:
        return Declared()
    if not isinstance(declared, dict):
        where = line_of(lines, ("workflows",))
        return Declared(problems=[Problem(file, where, "workflows: must map names to workflows")])
    problems = [
        Problem(file, line, f"duplicate key {path[-1]!r}", _workflow_of(path))
        for path, line in dupes
        if path[:1] == ("workflows",)
    ]
    if len(declared) > MAX_WORKFLOWS:
        where = line_of(lines, ("workflows",))
        problems.append(Problem(file, where, f"more than {MAX_WORKFLOWS} workflows"))
        return Declared(problems=problems, broken=frozenset(_as_written(str(n)) for n in declared))
    good: dict[str, Workflow] = {}
    broken: set[str] = {p.workflow for p in problems if p.workflow}
    for name, body in declared.items():
        name = str(name)
        prefix: Path = ("workflows", name)
        if not NAME.fullmatch(name):
            # Stored (inactive, with its problem) under its name as YAML writes it: one that
            # holds U+0000 or a lone surrogate could not be, and no valid name has a backslash.
            shown = _as_written(name)
            problems.append(
                Problem(
                    file,
                    line_of(lines, prefix),
                    f"workflow name {name!r}: letters, digits, '-', '_' and '.', up to 100",
                    shown,
                )
            )
            broken.add(shown)
            continue
        unstorable = _unstorable_at(body)
        if unstorable is not None:
            # YAML's "\0" and "\ud800" escapes: no text column or jsonb holds U+0000 or a lone
            # surrogate, so storing failed. A key holding one is named as YAML writes it, since
            # the problem is stored too.
            path, what = unstorable
            named = _as_written(_dotted(list(path)))
            reason = f"{name}: {named} holds {what}, which hookwise cannot store"
            problems.append(Problem(file, line_of(lines, prefix + path), reason, name))
            broken.add(name)
            continue
        try:
            workflow = Workflow.model_validate(body if body is not None else {})
        except ValidationError as exc:
            for error in exc.errors():
                loc = prefix + tuple(error["loc"])
                problems.append(
                    Problem(file, line_of(lines, loc), f"{name}: {_reason(error)}", name)
                )
            broken.add(name)
            continue
        if name not in broken:
            good[name] = workflow
    return Declared(
        workflows=good,
        problems=sorted(problems, key=lambda p: p.line),
        broken=frozenset(broken),
        lines={_as_written(str(n)): line_of(lines, ("workflows", str(n))) for n in declared},
    )


# What no text column or jsonb holds: U+0000, and a surrogate (one YAML did not pair).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _as_written(text: str) -> str:
    """`text` with U+0000 and lone surrogates as YAML's escapes write them (`\\0`, `\\ud800`):
    storable, and what the file says."""
    return _UNSTORABLE.sub(lambda c: "\\0" if c[0] == "\x00" else f"\\u{ord(c[0]):04x}", text)


def _joined(text: str) -> str:
    """PyYAML reads `"\\ud83d\\ude00"` as two code points, the halves of a surrogate pair: the
    one character they stand for (U+1F600) is what the file means. Lone surrogates stay."""
    if not _UNSTORABLE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "U+0000" if found[0] == "\x00" else f"a lone surrogate (\\u{ord(found[0]):04x})"


def _unstorable_at(value: Any) -> tuple[Path, str] | None:
    """Where in `value` (a workflow as YAML gave it, pairs joined) the first string or key
    holding U+0000 or a lone surrogate is, and which it holds; None when none does. Walked
    with a list of its own, however deep."""
    pending: list[tuple[Path, Any]] = [((), value)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, str) and (what := _unstorable(node)) is not None:
            return path, what
        if isinstance(node, dict):
            for key in node:
                if isinstance(key, str) and (what := _unstorable(key)) is not None:
                    return (*path, key), what
            named = [((*path, k if isinstance(k, int) else str(k)), v) for k, v in node.items()]
            pending.extend(reversed(named))
        elif isinstance(node, list):
            pending.extend(reversed([((*path, i), item) for i, item in enumerate(node)]))
    return None


def _workflow_of(path: Path) -> str | None:
    return _as_written(str(path[1])) if len(path) > 2 else None


# Where an unknown key was found, and what it is called there.
_KINDS = {"on": "trigger", "if": "condition", "steps": "step action"}


def _reason(error: Mapping[str, Any]) -> str:
    loc = [part for part in error["loc"] if isinstance(part, int) or not _internal(part)]
    where = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        what = _KINDS.get(str(loc[0]) if loc else "", "key")
        if (what == "step action" and len(loc) > 3) or (what == "trigger" and len(loc) > 2):
            what = "option"
        return f"unknown {what} {loc[-1]!r}" + (f" in {_dotted(loc[:-1])}" if len(loc) > 1 else "")
    if kind == "missing":
        return f"{where} is required"
    if not where and loc == [] and error["loc"]:
        where = str(error["loc"][0])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _internal(part: Any) -> bool:
    """pydantic's location parts that name a validator or union member, not a key."""
    text = str(part)
    return "[" in text or text in ("str", "list[str]", "int", "bool", "dict")


def _dotted(loc: list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text

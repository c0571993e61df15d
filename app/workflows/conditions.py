"""`on:` and `if:` against an event and a pull request's facts, without I/O.

The event's transaction knows what the payload and the stored rows say; what only GitHub
knows (the changed files, a PR's labels when the payload has none) is None there, and the
condition is left for the execution, which fetches it and then runs or ends as skipped.

GitHub lists 3,000 of a pull request's files at most. `changed_paths` holds when a listed file
matches, since each listed file is one the PR changes; when none does and the listing stops
short of the PR's count, the condition is undecided (`Unknown`), not failed: the files past the
listing may match, and a PR padded past it must neither skip a workflow it should start nor
start one it should not. The execution then runs no step and fails with that reason (see
app/workflows/engine.py), where the user sees its other outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app import github_limits as limits
from app.workflows.globs import any_match, matches
from app.workflows.spec import If, On


@dataclass(frozen=True)
class Facts:
    """What is known of a pull request; None: not known here."""

    title: str | None = None
    author: str | None = None
    association: str | None = None
    draft: bool | None = None
    bot: bool | None = None
    base_branch: str | None = None
    head_branch: str | None = None
    labels: tuple[str, ...] | None = None
    linked_issue: bool | None = None
    # (filename, additions + deletions) per changed file, as GET /pulls/{n}/files lists them:
    # 3,000 at most, and no line counts past GitHub's diff limit.
    files: tuple[tuple[str, int], ...] | None = None
    description: str | None = None
    # Renamed files' old names: a path condition matches them too, as GitHub Actions' `paths`
    # filter does. Not files of their own: a rename is one changed file.
    moved_from: tuple[str, ...] = ()
    # The pull request's own counts (changed_files, additions + deletions, GET /pulls/{n}):
    # what sizes are measured by when known, since the listing stops short of them.
    size: tuple[int, int] | None = None

    @classmethod
    def of_pull(cls, pr: Mapping[str, Any], **more: Any) -> Facts:
        """From a pull request as GitHub's REST API and webhooks show it."""
        user = pr.get("user")
        return cls(
            title=pr.get("title") or "",
            author=(pr.get("user") or {}).get("login"),
            association=pr.get("author_association"),
            draft=bool(pr.get("draft")),
            bot=None if not user else user.get("type") == "Bot",
            base_branch=(pr.get("base") or {}).get("ref"),
            head_branch=(pr.get("head") or {}).get("ref"),
            labels=tuple(label["name"] for label in pr.get("labels") or ()),
            description=pr.get("body") or "",
            **more,
        )

    @staticmethod
    def of_files(
        files: Sequence[Mapping[str, Any]],
    ) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
        """GET /pulls/{n}/files entries (filename, additions, deletions, previous_filename) as
        `files` and `moved_from`."""
        found = tuple(
            (f["filename"], int(f.get("additions") or 0) + int(f.get("deletions") or 0))
            for f in files
        )
        moved = tuple(str(f["previous_filename"]) for f in files if f.get("previous_filename"))
        return found, moved

    @staticmethod
    def size_of(pr: Mapping[str, Any]) -> tuple[int, int] | None:
        """(changed_files, additions + deletions) of a pull request as GET /pulls/{n} shows it;
        None when it lacks them (a listing's pull requests do)."""
        counts = [pr.get(key) for key in ("changed_files", "additions", "deletions")]
        found = [n for n in counts if isinstance(n, int) and not isinstance(n, bool)]
        if len(found) != len(counts):
            return None
        files, added, deleted = found
        return files, added + deleted

    def paths(self) -> tuple[str, ...] | None:
        """Every path the pull request touches as listed, old names of renames included."""
        return None if self.files is None else tuple(n for n, _ in self.files) + self.moved_from

    def listing_cut(self) -> bool:
        """Whether `files` may lack some of the pull request's files: fewer are listed than it
        counts, or, its count not known, as many as GitHub lists at most."""
        if self.files is None:
            return False
        if self.size is not None:
            return self.size[0] > len(self.files)
        return limits.may_be_cut(self.files, limits.PULL_FILES)

    def file_count(self) -> int | None:
        if self.size is not None:
            return self.size[0]
        return None if self.files is None else len(self.files)

    def line_count(self) -> int | None:
        if self.size is not None:
            return self.size[1]
        return None if self.files is None else sum(n for _, n in self.files)


@dataclass(frozen=True)
class Verdict:
    """holds: True (every condition holds), False (one does not: `reason`), None (none
    failed, but some need facts not known here, or cannot be decided from them: `reason`
    names them)."""

    holds: bool | None
    reason: str = ""


@dataclass(frozen=True)
class Unknown:
    """A condition the facts are known for and still do not decide, and why."""

    reason: str


def evaluate(conditions: If, facts: Facts) -> Verdict:
    unknown: list[str] = []
    undecided: list[str] = []
    for name, check in _CHECKS:
        if not _given(getattr(conditions, name)):
            continue
        outcome = check(conditions, facts)
        if outcome is None:
            unknown.append(name)
        elif isinstance(outcome, Unknown):
            undecided.append(outcome.reason)
        elif outcome is not True:
            return Verdict(False, str(outcome))
    if unknown or undecided:
        return Verdict(
            None, "; ".join((["needs " + ", ".join(unknown)] if unknown else []) + undecided)
        )
    return Verdict(True)


def _given(value: Any) -> bool:
    return value is not None and value != []


def _branch(which: str) -> Any:
    def check(c: If, f: Facts) -> bool | str | None:
        value = getattr(f, which)
        if value is None:
            return None
        if any_match(value, getattr(c, which)):
            return True
        return f"{which} {value!r} matches none of {', '.join(getattr(c, which))}"

    return check


def _labels(c: If, f: Facts) -> bool | str | None:
    if f.labels is None:
        return None
    missing = [label for label in c.labels if label not in f.labels]
    return True if not missing else f"label {', '.join(missing)} is missing"


def _labels_absent(c: If, f: Facts) -> bool | str | None:
    if f.labels is None:
        return None
    present = [label for label in c.labels_absent if label in f.labels]
    return True if not present else f"label {', '.join(present)} is present"


def _author(c: If, f: Facts) -> bool | str | None:
    if f.author is None:
        return None
    if any(matches(f.author.lower(), p.lower()) for p in c.author):
        return True
    return f"author {f.author} is not one of {', '.join(c.author)}"


def _association(c: If, f: Facts) -> bool | str | None:
    if f.association is None:
        return None
    if f.association in c.author_association:
        return True
    return f"author association {f.association} is not {', '.join(c.author_association)}"


def _draft(c: If, f: Facts) -> bool | str | None:
    if f.draft is None:
        return None
    return True if f.draft == c.draft else ("a draft" if f.draft else "not a draft")


def _bot(c: If, f: Facts) -> bool | str | None:
    if f.bot is None:
        return None
    return True if f.bot == c.bot else ("the author is a bot" if f.bot else "the author is no bot")


def _title(c: If, f: Facts) -> bool | str | None:
    if f.title is None:
        return None
    assert c.title is not None
    return True if re.search(c.title, f.title) else f"title does not match {c.title!r}"


def _linked(c: If, f: Facts) -> bool | str | None:
    if f.linked_issue is None:
        return None
    if f.linked_issue == c.linked_issue:
        return True
    return "no linked Linear issue" if c.linked_issue else "a Linear issue is linked"


def _paths(c: If, f: Facts) -> bool | str | Unknown | None:
    paths = f.paths()
    if paths is None:
        return None
    if any(any_match(name, c.changed_paths) for name in paths):
        return True
    if f.listing_cut():
        listed, count = len(f.files or ()), f.file_count()
        return Unknown(
            f"changed_paths cannot be decided: GitHub lists {listed} of the {count} files "
            f"changed and none of them matches {', '.join(c.changed_paths)}; the rest may"
        )
    return f"no changed file matches {', '.join(c.changed_paths)}"


def _size(field: str) -> Any:
    limit_kind, _, what = field.partition("_")
    counts_lines = what.startswith("lines")

    def check(c: If, f: Facts) -> bool | str | None:
        count = f.line_count() if counts_lines else f.file_count()
        if count is None:
            return None
        limit = getattr(c, field)
        unit = "lines" if counts_lines else "files"
        if limit_kind == "min" and count < limit:
            return f"{count} {unit} changed, fewer than {limit}"
        if limit_kind == "max" and count > limit:
            return f"{count} {unit} changed, more than {limit}"
        return True

    return check


_CHECKS = (
    ("base_branch", _branch("base_branch")),
    ("head_branch", _branch("head_branch")),
    ("labels", _labels),
    ("labels_absent", _labels_absent),
    ("author", _author),
    ("author_association", _association),
    ("draft", _draft),
    ("bot", _bot),
    ("title", _title),
    ("linked_issue", _linked),
    ("changed_paths", _paths),
    ("min_files_changed", _size("min_files_changed")),
    ("max_files_changed", _size("max_files_changed")),
    ("min_lines_changed", _size("min_lines_changed")),
    ("max_lines_changed", _size("max_lines_changed")),
)


def triggered(on: On, event: str, payload: Mapping[str, Any]) -> bool:
    """Whether the webhook (`event`, its payload) is one this workflow's `on:` names."""
    action = payload.get("action")
    if event == "pull_request":
        return on.pull_request is not None and action in on.pull_request
    if event == "check_run":
        run = payload.get("check_run") or {}
        spec = on.check_run
        return (
            spec is not None
            and action in spec.actions
            and (action != "completed" or run.get("conclusion") in spec.conclusions)
            and (not spec.names or any_match(run.get("name") or "", spec.names))
        )
    if event == "pull_request_review":
        state = ((payload.get("review") or {}).get("state") or "").lower()
        return (
            on.pull_request_review is not None
            and action == "submitted"
            and state in on.pull_request_review
        )
    if event == "issue_comment":
        return (
            on.issue_comment is not None
            and action == "created"
            and "pull_request" in (payload.get("issue") or {})
            and is_command(on.issue_comment.command, (payload.get("comment") or {}).get("body"))
        )
    return False


def is_command(command: str, body: str | None) -> bool:
    """The comment's first line is the command, or the command and more words after it."""
    first = (body or "").strip().splitlines()[0].strip() if (body or "").strip() else ""
    return first == command or first.startswith(command + " ")

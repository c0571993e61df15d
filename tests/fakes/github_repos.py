"""The repository side of the fake GitHub: git objects and branches, pull requests and their diffs,
reviews and comments, contents, check runs, Actions jobs and their logs, and the git data API.

FakeGitHub (tests/fakes/github.py) is built on RepoState and serves REPO_ROUTES, so use it from
there:

    github.add_installation(7, permissions={**APP_PERMISSIONS, "contents": "write"})
    github.add_repo("octo-org/widgets", installation_id=7, files={"app.py": "print('hi')\\n"})
    github.commit_files("octo-org/widgets", "fix", {"app.py": "print('hello')\\n"})
    pr = github.add_pull("octo-org/widgets", 1, head_branch="fix")
    run = github.add_check_run("octo-org/widgets", pr["head"]["sha"], name="tests")
    github.finish_check_run(run["id"], conclusion="success")  # later, and no webhook says so
    github.close_pull("octo-org/widgets", 1, merged=True)
    github.add_actions_job("octo-org/widgets", run_id=11, job_id=12, name="tests",
                           check_run_id=run["id"], log="##[error]Process completed with exit 1.")

The git model is content-addressed as git is: blob, tree and commit shas are git's own hashes of
the objects, and commit times count up one second per commit so that every commit is new. A
repository and its forks share one object store, as a fork network does on GitHub. Diffs come from
difflib, not git: where several minimal diffs exist the hunks can differ from git's, and hunk
headers carry no function context.

Access is an installation token's: another installation's repository, or nobody's (a fork), is 404
when private; when public it may be read but not written (403). The installation's permissions
are checked: git data writes need contents: write, check runs checks: write, reviews
pull_requests: write, comments issues or pull_requests: write, logs actions: read.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import itertools
import re
import secrets
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

DOCS = "https://docs.github.com/rest"
REVIEW_DOCS = f"{DOCS}/pulls/reviews#create-a-review-for-a-pull-request"
COMMENT_DOCS = f"{DOCS}/issues/comments#create-an-issue-comment"
NOT_ACCESSIBLE = "Resource not accessible by integration"
FIRST_ID = 2_000_000_001
# Where the one-minute links to Actions logs point; GitHub's are on an Azure blob store.
BLOB_PREFIX = "/_blobs/"
BLOB_TTL = 60.0
MAX_BODY = 65_536  # issue comments, reviews and review comments
MAX_CHECK_TEXT = 65_535  # a check run's output.summary and output.text
MAX_ANNOTATIONS = 50  # per request; more are added by further updates
MAX_ACTIONS = 3
ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}
# Above 1 MB the contents API leaves `content` empty (encoding "none"); the blob API serves it.
MAX_CONTENTS = 1024 * 1024
# GET /pulls/{n}/files: "Responses include a maximum of 3000 files" (GitHub's REST reference);
# the pull request itself still counts them all (changed_files, additions, deletions).
MAX_PULL_FILES = 3000
# GET /compare/{basehead} (GitHub's REST reference, "Compare two commits"): "the returned list is
# limited to 250 commits" without per_page or page, its last the newest; with them the commits
# come in pages and "The list of changed files is only shown on the first page of results, and
# it includes up to 300 changed files for the entire comparison". Nothing in the answer says
# the files were cut.
MAX_COMPARE_COMMITS = 250
MAX_COMPARE_FILES = 300
ACTIONS_APP_ID = 15368
ANNOTATION_LEVELS = ("notice", "warning", "failure")
CHECK_STATUSES = ("queued", "in_progress", "completed")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
REVIEW_STATES = {
    "COMMENT": "COMMENTED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "APPROVE": "APPROVED",
}
FILE_MODE, EXEC_MODE, LINK_MODE, DIR_MODE, SUBMODULE_MODE = (
    "100644",
    "100755",
    "120000",
    "040000",
    "160000",
)
TYPE_OF_MODE = {
    FILE_MODE: "blob",
    EXEC_MODE: "blob",
    LINK_MODE: "blob",
    DIR_MODE: "tree",
    SUBMODULE_MODE: "commit",
}
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
HUMAN = {"name": "Mona Octocat", "email": "octocat@users.noreply.github.com"}  # commits set up
NO_NEWLINE = "\\ No newline at end of file"
HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
WORKFLOWS = ".github/workflows/"
BLOB_NOT_FOUND = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
    "<Message>The specified blob does not exist.</Message></Error>"
)
BLOB_EXPIRED = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
    "<Message>Server failed to authenticate the request. Make sure the value of Authorization"
    " header is formed correctly including the signature.</Message>"
    "<AuthenticationErrorDetail>Signed expiry time [{expiry}] must be after signed start time"
    " [{now}]</AuthenticationErrorDetail></Error>"
)

Entry = tuple[str, str]  # (mode, sha) of a tree entry
# A repository's API links, after its URL, as GitHub lists them.
REPO_URLS = {
    "archive": "/{archive_format}{/ref}",
    "assignees": "/assignees{/user}",
    "blobs": "/git/blobs{/sha}",
    "branches": "/branches{/branch}",
    "collaborators": "/collaborators{/collaborator}",
    "comments": "/comments{/number}",
    "commits": "/commits{/sha}",
    "compare": "/compare/{base}...{head}",
    "contents": "/contents/{+path}",
    "contributors": "/contributors",
    "deployments": "/deployments",
    "downloads": "/downloads",
    "events": "/events",
    "forks": "/forks",
    "git_commits": "/git/commits{/sha}",
    "git_refs": "/git/refs{/sha}",
    "git_tags": "/git/tags{/sha}",
    "hooks": "/hooks",
    "issue_comment": "/issues/comments{/number}",
    "issue_events": "/issues/events{/number}",
    "issues": "/issues{/number}",
    "keys": "/keys{/key_id}",
    "labels": "/labels{/name}",
    "languages": "/languages",
    "merges": "/merges",
    "milestones": "/milestones{/number}",
    "notifications": "/notifications{?since,all,participating}",
    "pulls": "/pulls{/number}",
    "releases": "/releases{/id}",
    "stargazers": "/stargazers",
    "statuses": "/statuses/{sha}",
    "subscribers": "/subscribers",
    "subscription": "/subscription",
    "tags": "/tags",
    "teams": "/teams",
    "trees": "/git/trees{/sha}",
}
REPO_COUNTS = (
    "forks",
    "forks_count",
    "open_issues",
    "open_issues_count",
    "size",
    "stargazers_count",
    "watchers",
    "watchers_count",
)


# The git model


@dataclass(eq=False)
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: dict[str, str]  # name, email, date
    committer: dict[str, str]
    verified: bool
    seq: int  # creation order: a commit comes after its parents


@dataclass(eq=False)
class Objects:
    """One fork network's git objects, addressed by their git sha."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, Entry]] = field(default_factory=lambda: {EMPTY_TREE: {}})
    commits: dict[str, Commit] = field(default_factory=dict)

    def put_blob(self, data: bytes) -> str:
        sha = git_hash("blob", data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, flat: Mapping[str, Entry]) -> str:
        """Store the tree (and its subtrees) holding these paths; returns its sha."""
        here: dict[str, Entry] = {}
        below: dict[str, dict[str, Entry]] = {}
        for path, entry in flat.items():
            name, slash, rest = path.partition("/")
            if slash:
                below.setdefault(name, {})[rest] = entry
            else:
                here[name] = entry
        for name, inner in below.items():
            here[name] = (DIR_MODE, self.put_tree(inner))
        raw = b"".join(
            f"{mode.lstrip('0')} {name}".encode() + b"\0" + bytes.fromhex(sha)
            for name, (mode, sha) in sorted(here.items(), key=tree_order)
        )
        sha = git_hash("tree", raw)
        self.trees[sha] = here
        return sha

    def flatten(self, tree: str, prefix: str = "") -> dict[str, Entry]:
        """Every non-tree entry under `tree`, by full path."""
        flat: dict[str, Entry] = {}
        for name, (mode, sha) in self.trees[tree].items():
            if mode == DIR_MODE:
                flat.update(self.flatten(sha, f"{prefix}{name}/"))
            else:
                flat[f"{prefix}{name}"] = (mode, sha)
        return flat

    def files(self, commit: str) -> dict[str, Entry]:
        return self.flatten(self.commits[commit].tree)

    def ancestors(self, sha: str) -> set[str]:
        """`sha` and every commit it descends from."""
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo += self.commits[current].parents
        return seen

    def merge_base(self, one: str, other: str) -> str | None:
        """The newest common ancestor: none of the others descends from it."""
        common = self.ancestors(one) & self.ancestors(other)
        return max(common, key=lambda sha: self.commits[sha].seq, default=None)

    def between(self, base: str, head: str) -> list[Commit]:
        """Commits reachable from head and not from base, oldest first."""
        shas = self.ancestors(head) - self.ancestors(base)
        return sorted((self.commits[sha] for sha in shas), key=lambda commit: commit.seq)


def git_hash(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def tree_order(item: tuple[str, Entry]) -> str:
    # git sorts a subtree as if its name ended with a slash
    name, (mode, _) = item
    return f"{name}/" if mode == DIR_MODE else name


def signature(person: Mapping[str, str]) -> str:
    when = int(datetime.fromisoformat(person["date"]).timestamp())
    return f"{person['name']} <{person['email']}> {when} +0000"


def as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


# Diffs


@dataclass(frozen=True)
class Hunk:
    start: int  # index of the @@ line in the patch's lines
    left: dict[int, int]  # old line number -> index in the patch's lines
    right: dict[int, int]  # new line number -> index


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added, modified, removed, renamed
    sha: str  # the new blob, or the old one when removed
    additions: int
    deletions: int
    patch: str | None  # None for a binary file
    previous_path: str | None = None  # a renamed file's old name

    @property
    def lines(self) -> list[str]:
        return (self.patch or "").split("\n")

    def hunks(self) -> list[Hunk]:
        hunks: list[Hunk] = []
        old = new = 0
        for index, text in enumerate(self.lines if self.patch else []):
            header = HUNK_HEADER.match(text)
            if header:
                old, new = int(header[1]), int(header[2])
                hunks.append(Hunk(start=index, left={}, right={}))
            elif not hunks or text.startswith("\\"):
                continue
            elif text.startswith("-"):
                hunks[-1].left[old] = index
                old += 1
            elif text.startswith("+"):
                hunks[-1].right[new] = index
                new += 1
            else:
                hunks[-1].left[old] = index
                hunks[-1].right[new] = index
                old, new = old + 1, new + 1
        return hunks


def split_lines(text: str) -> list[str]:
    """Lines as git sees them: split at \\n only, each keeping it (the last may lack one)."""
    parts = text.split("\n")
    return [f"{part}\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def unified_patch(old: str, new: str) -> str:
    """A unified diff with three lines of context, as GitHub's `patch`: no ---/+++ header."""
    out: list[str] = []
    diff = difflib.unified_diff(split_lines(old), split_lines(new), n=3, lineterm="")
    for text in itertools.islice(diff, 2, None):
        if text.startswith("@@"):
            out.append(text)
        elif text.endswith("\n"):
            out.append(text[:-1])
        else:
            out += [text, NO_NEWLINE]
    return "\n".join(out)


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def exact_renames(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> dict[str, str]:
    """new path -> old path for files moved unchanged (same mode and blob), as git's rename
    detection pairs them first; git also pairs files that changed a little, the fake does not."""
    gone: dict[Entry, list[str]] = {}
    for path in sorted(old.keys() - new.keys()):
        gone.setdefault(old[path], []).append(path)
    renames = {}
    for path in sorted(new.keys() - old.keys()):
        candidates = gone.get(new[path])
        if candidates:
            renames[path] = candidates.pop(0)
    return renames


def diff_files(
    objects: Objects, old: Mapping[str, Entry], new: Mapping[str, Entry], binary: set[str]
) -> list[FileChange]:
    """The files changed from `old` to `new` as GitHub lists them: a file moved unchanged is
    one entry, `renamed`, with its old name and no patch."""
    changes = []
    renames = exact_renames(old, new)
    moved = set(renames.values())
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before == after or path in moved:
            continue
        if path in renames:
            changes.append(FileChange(path, "renamed", new[path][1], 0, 0, None, renames[path]))
            continue
        status = "added" if before is None else "removed" if after is None else "modified"
        old_data = objects.blobs.get(before[1], b"") if before else b""
        new_data = objects.blobs.get(after[1], b"") if after else b""
        sha = (after or before or ("", ""))[1]
        kinds = {entry[0] for entry in (before, after) if entry}
        if path in binary or SUBMODULE_MODE in kinds or is_binary(old_data + new_data):
            changes.append(FileChange(path, status, sha, 0, 0, None))
            continue
        patch = unified_patch(old_data.decode(), new_data.decode())
        lines = patch.split("\n")
        added = sum(1 for line in lines if line.startswith("+"))
        removed = sum(1 for line in lines if line.startswith("-"))
        changes.append(FileChange(path, status, sha, added, removed, patch))
    return changes


# Repository state


@dataclass(eq=False)
class Repo:
    id: int
    name: str
    owner: dict[str, Any]
    installation_id: int | None  # None: no installation of the App can see it
    default_branch: str
    private: bool
    objects: Objects
    created_at: str
    parent: Repo | None = None  # what this repository is a fork of
    branches: dict[str, str] = field(default_factory=dict)
    binary: set[str] = field(default_factory=set)
    pulls: dict[int, Pull] = field(default_factory=dict)
    # Collaborators' permission (admin, write, read); anyone else: none on a private
    # repository, read on a public one.
    collaborators: dict[str, str] = field(default_factory=dict)
    # The organization's teams by slug (for review requests).
    teams: set[str] = field(default_factory=set)
    archived: bool = False
    # GitHub's updated_at: the time of the repository's last change (created_at until one).
    updated_at: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner['login']}/{self.name}"

    def resolve(self, ref: str) -> str | None:
        """The commit a sha, an abbreviated sha, a branch or a pull request ref names."""
        commits = self.objects.commits
        if ref in commits:
            return ref
        for prefix in ("refs/heads/", "heads/"):
            if ref.startswith(prefix) and ref[len(prefix) :] in self.branches:
                return self.branches[ref[len(prefix) :]]
        if ref in self.branches:
            return self.branches[ref]
        pull = re.fullmatch(r"(?:refs/)?pull/(\d+)/head", ref)
        if pull and int(pull[1]) in self.pulls:
            return self.pulls[int(pull[1])].head_sha
        if re.fullmatch(r"[0-9a-f]{7,39}", ref):
            found = [sha for sha in commits if sha.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None


@dataclass(eq=False)
class Pull:
    id: int
    number: int
    repo: Repo
    head_repo: Repo
    head_branch: str
    base_branch: str
    title: str
    body: str
    user: dict[str, Any]
    draft: bool
    created_at: str
    state: str = "open"
    updated_at: str | None = None  # None: never changed since created
    closed_at: str | None = None
    merged_at: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    author_association: str = "CONTRIBUTOR"

    @property
    def head_sha(self) -> str:
        return self.head_repo.branches[self.head_branch]

    @property
    def base_sha(self) -> str:
        return self.repo.branches[self.base_branch]

    def changes(self, head: str | None = None) -> list[FileChange]:
        """The pull request's diff, as GitHub shows it: merge base to head (or `head`)."""
        objects = self.repo.objects
        head = head or self.head_sha
        base = objects.merge_base(self.base_sha, head)
        old = objects.files(base) if base else {}
        binary = self.repo.binary | self.head_repo.binary
        return diff_files(objects, old, objects.files(head), binary)


@dataclass(eq=False)
class CheckRun:
    id: int
    repo: Repo
    head_sha: str
    name: str
    app: dict[str, Any]
    status: str
    conclusion: str | None
    started_at: str
    completed_at: str | None
    output: dict[str, Any]  # title, summary, text
    annotations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    details_url: str | None = None
    external_id: str | None = None


@dataclass(eq=False)
class Job:
    id: int
    run_id: int
    repo: Repo
    name: str
    check_run_id: int
    head_sha: str
    # Text, or bytes as a runner wrote them (NUL bytes, bytes that are not UTF-8 ...).
    log: str | bytes = field(repr=False)
    conclusion: str | None
    steps: list[dict[str, Any]]
    created_at: str


@dataclass(eq=False)
class SignedURL:
    """A link to a job's log as the logs endpoint hands it out: no credentials, short-lived."""

    url: str
    job_id: int
    text: str | bytes = field(repr=False)
    expires_at: datetime
    downloads: int = 0


@dataclass(eq=False)
class Review:
    id: int
    repo: Repo
    number: int
    user: dict[str, Any]
    body: str
    state: str
    commit_id: str
    submitted_at: str | None
    comment_ids: list[int]


@dataclass(eq=False)
class ReviewComment:
    id: int
    repo: Repo
    number: int
    review_id: int
    user: dict[str, Any]
    body: str
    path: str
    line: int
    side: str
    start_line: int | None
    start_side: str | None
    position: int
    diff_hunk: str
    commit_id: str
    created_at: str


@dataclass(eq=False)
class IssueComment:
    id: int
    repo: Repo
    number: int
    user: dict[str, Any]
    body: str
    created_at: str
    updated_at: str


@dataclass(kw_only=True, eq=False)
class RepoState:
    """Repositories and what hangs off them, with helpers to set them up; FakeGitHub's base."""

    if TYPE_CHECKING:  # provided by FakeGitHub
        url: str
        app_id: int
        slug: str
        installations: dict[int, dict[str, Any]]

        def app_json(self) -> dict[str, Any]: ...

    repos: dict[str, Repo] = field(default_factory=dict, init=False, repr=False)  # by lower name
    # A renamed or transferred repository's old names (lower case): GitHub redirects requests
    # made with one to the repository by id, until the name is taken again.
    moved: dict[str, Repo] = field(default_factory=dict, init=False, repr=False)
    check_runs: dict[int, CheckRun] = field(default_factory=dict, init=False, repr=False)
    jobs: dict[int, Job] = field(default_factory=dict, init=False, repr=False)
    reviews: dict[int, Review] = field(default_factory=dict, init=False, repr=False)
    review_comments: dict[int, ReviewComment] = field(default_factory=dict, init=False, repr=False)
    issue_comments: dict[int, IssueComment] = field(default_factory=dict, init=False, repr=False)
    # Links handed out by the job logs endpoint, by their token; expire_blobs() ends them.
    signed_urls: dict[str, SignedURL] = field(default_factory=dict, init=False, repr=False)
    blob_ttl: float = field(default=BLOB_TTL, init=False, repr=False)
    _ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(FIRST_ID), init=False, repr=False
    )
    _commit_seq: Iterator[int] = field(default_factory=itertools.count, init=False, repr=False)
    _commit_time: int = field(default=0, init=False, repr=False)

    # Setting up state

    def add_repo(
        self,
        full_name: str,
        *,
        installation_id: int,
        default_branch: str = "main",
        files: Mapping[str, str | bytes] | None = None,
        private: bool = False,
    ) -> dict[str, Any]:
        """A repository the installation can see, with one commit holding `files`."""
        login, _, name = full_name.partition("/")
        if not login or not name or "/" in name:
            raise ValueError(f"a repository is named owner/name, not {full_name!r}")
        if full_name.lower() in self.repos:
            raise ValueError(f"{full_name} exists already")
        installation = self.installations.get(installation_id)
        if installation is not None and installation["account"]["login"] == login:
            owner = dict(installation["account"])
        else:
            owner = user_json(login, "Organization")
        repo = Repo(
            id=next(self._ids),
            name=name,
            owner=owner,
            installation_id=installation_id,
            default_branch=default_branch,
            private=private,
            objects=Objects(),
            created_at=stamp(),
        )
        self.repos[full_name.lower()] = repo
        flat = {
            path: (FILE_MODE, repo.objects.put_blob(as_bytes(c)))
            for path, c in (files or {}).items()
        }
        tree = repo.objects.put_tree(flat)
        initial = self._commit(repo, tree, [], "Initial commit", author=HUMAN)
        repo.branches[default_branch] = initial.sha
        return self.repo_json(repo)

    def fork_repo(self, full_name: str, *, owner: str = "forker") -> dict[str, Any]:
        """A fork owned by someone the App is not installed for; it shares the objects."""
        parent = self.repo(full_name)
        fork = Repo(
            id=next(self._ids),
            name=parent.name,
            owner=user_json(owner, "User"),
            installation_id=None,
            default_branch=parent.default_branch,
            private=parent.private,
            objects=parent.objects,
            created_at=stamp(),
            parent=parent,
            branches=dict(parent.branches),
            binary=set(parent.binary),
        )
        if fork.full_name.lower() in self.repos:
            raise ValueError(f"{fork.full_name} exists already")
        self.repos[fork.full_name.lower()] = fork
        return self.repo_json(fork)

    def rename_repo(
        self, full_name: str, new_full_name: str, *, installation_id: int | None = None
    ) -> dict[str, Any]:
        """Rename the repository, or transfer it to another owner (`owner/name` changes; to
        an account where `installation_id` is the App's installation), as GitHub does: no
        webhook is sent, and the old name redirects (301, or 307 for writes)."""
        repo = self.repo(full_name)
        login, _, name = new_full_name.partition("/")
        if not login or not name or "/" in name:
            raise ValueError(f"a repository is named owner/name, not {new_full_name!r}")
        if new_full_name.lower() in self.repos:
            raise ValueError(f"{new_full_name} exists already")
        del self.repos[full_name.lower()]
        if login != repo.owner["login"]:
            repo.owner = user_json(login, "Organization")
        repo.name = name
        self.repos[new_full_name.lower()] = repo
        self.moved[full_name.lower()] = repo
        self.moved.pop(new_full_name.lower(), None)
        if installation_id is not None:
            repo.installation_id = installation_id
        changed(repo)
        return self.repo_json(repo)

    def archive_repo(self, full_name: str, *, archived: bool = True) -> dict[str, Any]:
        """Archive (or unarchive) the repository: it reads as before, and says `archived`."""
        repo = self.repo(full_name)
        repo.archived = archived
        changed(repo)
        return self.repo_json(repo)

    def edit_repo(
        self,
        full_name: str,
        *,
        private: bool | None = None,
        default_branch: str | None = None,
        leave_fork_network: bool = False,
    ) -> dict[str, Any]:
        """Change the repository's visibility or default branch (an existing branch), or detach
        a fork from its network (GitHub's "Leave fork network": no longer a fork), as GitHub's
        settings do: no webhook is sent (the test sends the `repository` one)."""
        repo = self.repo(full_name)
        if private is not None:
            repo.private = private
        if default_branch is not None:
            if default_branch not in repo.branches:
                raise ValueError(f"{full_name} has no branch {default_branch}")
            repo.default_branch = default_branch
        if leave_fork_network:
            repo.parent = None
        changed(repo)
        return self.repo_json(repo)

    def delete_repo(self, full_name: str) -> dict[str, Any]:
        """Delete the repository: its name and its old names answer 404 from now on."""
        repo = self.repo(full_name)
        del self.repos[full_name.lower()]
        for old in [name for name, moved in self.moved.items() if moved is repo]:
            del self.moved[old]
        return self.repo_json(repo)

    def redirect(self, path: str, *, installation_id: int | None) -> str | None:
        """Where GitHub sends a request for a repository by an old name: `/repositories/{id}`
        and the rest of the path; None when the path names no moved repository the caller may
        see (a private one is 404 to others, as GitHub hides it)."""
        found = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if found is None:
            return None
        key = f"{found[1]}/{found[2]}".lower()
        repo = self.moved.get(key)
        if key in self.repos or repo is None or repo.full_name.lower() not in self.repos:
            return None
        if repo.private and repo.installation_id != installation_id:
            return None
        return f"/repositories/{repo.id}{found[3] or ''}"

    def by_id_path(self, path: str) -> str | None:
        """`/repositories/{id}/rest` as the `/repos/{owner}/{repo}/rest` GitHub serves it as;
        None for any other path or an unknown id."""
        found = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        if found is None:
            return None
        for repo in self.repos.values():
            if repo.id == int(found[1]):
                return f"/repos/{repo.full_name}{found[2] or ''}"
        return None

    def commit_files(
        self,
        full_name: str,
        branch: str,
        files: Mapping[str, str | bytes | None],
        message: str = "Update files",
        *,
        executable: Iterable[str] = (),
    ) -> str:
        """A new commit on `branch` (made from the default branch if new); None deletes a file.
        Paths in `executable` get mode 100755."""
        repo = self.repo(full_name)
        tip = repo.branches.get(branch, repo.branches[repo.default_branch])
        flat = repo.objects.files(tip)
        for path, content in files.items():
            if content is None:
                if flat.pop(path, None) is None:
                    raise ValueError(f"{path} is not in {full_name} at {branch}")
            else:
                mode = EXEC_MODE if path in set(executable) else FILE_MODE
                flat[path] = (mode, repo.objects.put_blob(as_bytes(content)))
        tree = repo.objects.put_tree(flat)
        sha = self._commit(repo, tree, [tip], message, author=HUMAN).sha
        repo.branches[branch] = sha
        return sha

    def rebase_branch(self, full_name: str, branch: str, onto: str) -> str:
        """Replay `branch`'s files on top of `onto` as one new commit (a rebase, then a force
        push): the old tip is no longer an ancestor of the branch."""
        repo = self.repo(full_name)
        old, base = repo.branches[branch], repo.branches[onto]
        merge_base = repo.objects.merge_base(base, old)
        mine = repo.objects.files(old)
        before = repo.objects.files(merge_base) if merge_base else {}
        flat = repo.objects.files(base)
        for path in set(mine) | set(before):
            if mine.get(path) != before.get(path):
                if path in mine:
                    flat[path] = mine[path]
                else:
                    flat.pop(path, None)
        tree = repo.objects.put_tree(flat)
        sha = self._commit(repo, tree, [base], f"Rebase {branch} onto {onto}", author=HUMAN).sha
        repo.branches[branch] = sha
        return sha

    def merge_branch(self, full_name: str, branch: str, source: str) -> str:
        """Merge `source` into `branch` with a merge commit (no conflicts: `branch`'s files win)."""
        repo = self.repo(full_name)
        tip, other = repo.branches[branch], repo.branches[source]
        merge_base = repo.objects.merge_base(tip, other)
        before = repo.objects.files(merge_base) if merge_base else {}
        flat = repo.objects.files(tip)
        for path, entry in repo.objects.files(other).items():
            if before.get(path) != entry and flat.get(path) == before.get(path):
                flat[path] = entry
        tree = repo.objects.put_tree(flat)
        message = f"Merge {source} into {branch}"
        sha = self._commit(repo, tree, [tip, other], message, author=HUMAN).sha
        repo.branches[branch] = sha
        return sha

    def set_binary(self, full_name: str, path: str) -> None:
        """Show `path` as binary in diffs (no patch), whatever its content."""
        self.repo(full_name).binary.add(path)

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        head_branch: str,
        base_branch: str = "main",
        title: str = "Update files",
        body: str = "",
        user_login: str = "octocat",
        draft: bool = False,
        fork: bool = False,
    ) -> dict[str, Any]:
        """An open pull request from `head_branch`; its head is the branch's tip, now and later.

        fork=True: the head branch lives in forker/<name> (forked now if need be); a branch of
        that name in this repository moves there.
        """
        repo = self.repo(full_name)
        if number in repo.pulls:
            raise ValueError(f"{full_name} has a pull request #{number} already")
        if base_branch not in repo.branches:
            raise ValueError(f"{full_name} has no branch {base_branch}")
        head_repo = repo
        if fork:
            fork_name = f"forker/{repo.name}"
            if fork_name.lower() not in self.repos:
                self.fork_repo(full_name)
            head_repo = self.repo(fork_name)
            if head_branch in repo.branches and head_branch != base_branch:
                head_repo.branches[head_branch] = repo.branches.pop(head_branch)
        if head_branch not in head_repo.branches:
            raise ValueError(f"{head_repo.full_name} has no branch {head_branch}")
        kind = "Bot" if user_login.endswith("[bot]") else "User"
        pull = Pull(
            id=next(self._ids),
            number=number,
            repo=repo,
            head_repo=head_repo,
            head_branch=head_branch,
            base_branch=base_branch,
            title=title,
            body=body,
            user=user_json(user_login, kind),
            draft=draft,
            created_at=stamp(),
        )
        repo.pulls[number] = pull
        return self.pull_json(pull)

    def close_pull(self, full_name: str, number: int, *, merged: bool = False) -> dict[str, Any]:
        """Close (or merge) an open pull request now, as a user would on GitHub: no webhook is
        sent, so only a look at the API shows it."""
        pull = self.repo(full_name).pulls.get(number)
        if pull is None or pull.state != "open":
            raise ValueError(f"{full_name} has no open pull request #{number}")
        at = stamp()
        pull.state, pull.updated_at, pull.closed_at = "closed", at, at
        if merged:
            pull.merged_at = at
        return self.pull_json(pull)

    def finish_check_run(self, run_id: int, *, conclusion: str = "success") -> dict[str, Any]:
        """Complete another App's check run now (no webhook is sent)."""
        run = self.check_runs[run_id]
        if run.status == "completed":
            raise ValueError(f"check run {run_id} is completed already")
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"{conclusion!r} is not a check run conclusion")
        run.status, run.conclusion, run.completed_at = "completed", conclusion, stamp()
        return self.check_run_json(run)

    def add_check_run(
        self,
        full_name: str,
        head_sha: str,
        *,
        name: str,
        status: str = "completed",
        conclusion: str | None = "failure",
        app_slug: str = "github-actions",
        output: Mapping[str, Any] | None = None,
        annotations: list[dict[str, Any]] | None = None,
        details_url: str | None = None,
    ) -> dict[str, Any]:
        """A check run made by another App (GitHub Actions unless `app_slug` says otherwise)."""
        repo = self.repo(full_name)
        sha = repo.resolve(head_sha)
        if sha is None:
            raise ValueError(f"{full_name} has no commit {head_sha}")
        completed = status == "completed"
        run = CheckRun(
            id=next(self._ids),
            repo=repo,
            head_sha=sha,
            name=name,
            app=self.app_of(app_slug),
            status=status,
            conclusion=conclusion if completed else None,
            started_at=stamp(),
            completed_at=stamp() if completed else None,
            output={"title": None, "summary": None, "text": None, **(output or {})},
            annotations=[annotation_json(a) for a in annotations or []],
            details_url=details_url,
        )
        self.check_runs[run.id] = run
        return self.check_run_json(run)

    def add_actions_job(
        self,
        full_name: str,
        *,
        run_id: int,
        job_id: int,
        name: str,
        check_run_id: int,
        log: str | bytes,
        conclusion: str | None = "failure",
        steps: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A GitHub Actions job of workflow run `run_id`, reported as check run `check_run_id`.
        A `log` given as bytes is served as they are (GitHub passes on what the runner wrote)."""
        repo = self.repo(full_name)
        run = self.check_runs.get(check_run_id)
        head_sha = run.head_sha if run else repo.branches[repo.default_branch]
        job = Job(
            id=job_id,
            run_id=run_id,
            repo=repo,
            name=name,
            check_run_id=check_run_id,
            head_sha=head_sha,
            log=log,
            conclusion=conclusion,
            steps=list(steps or []),
            created_at=stamp(),
        )
        self.jobs[job_id] = job
        return self.job_json(job)

    def expire_blobs(self) -> None:
        """End every log link handed out so far, as a minute passing would."""
        for signed in self.signed_urls.values():
            signed.expires_at = min(signed.expires_at, now() - timedelta(seconds=1))

    # Reading state

    def repo(self, full_name: str) -> Repo:
        try:
            return self.repos[full_name.lower()]
        except KeyError:
            raise ValueError(f"no repository {full_name}; add_repo() first") from None

    def tip(self, full_name: str, branch: str | None = None) -> str:
        repo = self.repo(full_name)
        return repo.branches[branch or repo.default_branch]

    def file_at(self, full_name: str, path: str, *, ref: str | None = None) -> str | None:
        """A file's text at a commit or branch (the default branch unless given); None if absent."""
        repo = self.repo(full_name)
        sha = repo.resolve(ref or repo.default_branch)
        if sha is None:
            raise ValueError(f"{full_name} has no ref {ref}")
        entry = repo.objects.files(sha).get(path)
        return None if entry is None else repo.objects.blobs[entry[1]].decode()

    def mode_at(self, full_name: str, path: str, *, ref: str) -> str | None:
        """A path's git mode at a commit or branch; None if absent."""
        repo = self.repo(full_name)
        sha = repo.resolve(ref)
        if sha is None:
            raise ValueError(f"{full_name} has no ref {ref}")
        entry = repo.objects.files(sha).get(path)
        return None if entry is None else entry[0]

    # Used by the helpers and endpoints

    def _commit(
        self,
        repo: Repo,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: Mapping[str, str] | None = None,
        committer: Mapping[str, str] | None = None,
    ) -> Commit:
        self._commit_time = max(int(now().timestamp()), self._commit_time + 1)
        date = iso(datetime.fromtimestamp(self._commit_time, UTC))
        bot = self.bot_user()
        default = {
            "name": bot["login"],
            "email": f"{bot['id']}+{bot['login']}@users.noreply.github.com",
        }
        author_ = {**default, "date": date, **(author or {})}
        committer_ = {**author_, "date": date, **(committer or {})}
        text = "\n".join(
            [
                f"tree {tree}",
                *(f"parent {parent}" for parent in parents),
                f"author {signature(author_)}",
                f"committer {signature(committer_)}",
                "",
                message,
            ]
        )
        commit = Commit(
            sha=git_hash("commit", text.encode()),
            tree=tree,
            parents=list(parents),
            message=message,
            author=author_,
            committer=committer_,
            # GitHub signs the commits an App makes through the API in its own name.
            verified=author is None and committer is None,
            seq=next(self._commit_seq),
        )
        repo.objects.commits[commit.sha] = commit
        return commit

    def app_of(self, slug: str) -> dict[str, Any]:
        if slug == self.slug:
            app = self.app_json()
            return {key: value for key, value in app.items() if key != "installations_count"}
        if slug == "github-actions":
            app_id, name, owner = (
                ACTIONS_APP_ID,
                "GitHub Actions",
                user_json("github", "Organization"),
            )
        else:
            app_id, name, owner = zlib.crc32(slug.encode()), slug, user_json(slug, "Organization")
        node = f"MDM6QXBw{app_id}"
        html = f"{self.url}/apps/{slug}"
        return {
            "id": app_id,
            "slug": slug,
            "node_id": node,
            "owner": owner,
            "name": name,
            "description": None,
            "external_url": html,
            "html_url": html,
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2018-07-30T09:30:17Z",
            "permissions": {},
            "events": [],
        }

    def bot_user(self) -> dict[str, Any]:
        login = f"{self.slug}[bot]"
        return {
            **user_json(login, "Bot"),
            "html_url": f"{self.url}/apps/{self.slug}",
            "url": f"{self.url}/users/{login}",
        }

    # GitHub's JSON

    def repo_json(self, repo: Repo, *, full: bool = True) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        html = f"{self.url}/{repo.full_name}"
        body: dict[str, Any] = {
            "id": repo.id,
            "node_id": f"R_fake{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": repo.owner,
            "html_url": html,
            "description": None,
            "fork": repo.parent is not None,
            "url": api,
            **{f"{name}_url": f"{api}{suffix}" for name, suffix in REPO_URLS.items()},
            "clone_url": f"{html}.git",
            "git_url": f"git:{html.partition(':')[2]}.git",
            "ssh_url": f"git@{urlsplit(self.url).hostname}:{repo.full_name}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "license": None,
            "default_branch": repo.default_branch,
            "visibility": "private" if repo.private else "public",
            "archived": repo.archived,
            "disabled": False,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            **dict.fromkeys(REPO_COUNTS, 0),
            "created_at": repo.created_at,
            "updated_at": repo.updated_at or repo.created_at,
            "pushed_at": repo.created_at,
        }
        if full:  # GET /repos/{owner}/{repo}: the full-repository
            body["network_count"] = body["subscribers_count"] = 0
        if full and repo.parent is not None:
            source = repo.parent
            while source.parent is not None:
                source = source.parent
            body["parent"] = self.repo_json(repo.parent, full=False)
            body["source"] = self.repo_json(source, full=False)
        return body

    def pull_json(self, pull: Pull) -> dict[str, Any]:
        repo, full = pull.repo, pull.repo.full_name
        api = f"{self.url}/repos/{full}/pulls/{pull.number}"
        html = f"{self.url}/{full}/pull/{pull.number}"
        changes = pull.changes()
        base = repo.objects.merge_base(pull.base_sha, pull.head_sha)
        commits = repo.objects.between(base or pull.base_sha, pull.head_sha)

        def side(of: Repo, branch: str, sha: str) -> dict[str, Any]:
            login = of.owner["login"]
            return {
                "label": f"{login}:{branch}",
                "ref": branch,
                "sha": sha,
                "user": of.owner,
                "repo": self.repo_json(of, full=False),
            }

        return {
            "url": api,
            "id": pull.id,
            "node_id": f"PR_fake{pull.id}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{self.url}/repos/{full}/issues/{pull.number}",
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "comments_url": f"{self.url}/repos/{full}/issues/{pull.number}/comments",
            "review_comment_url": f"{self.url}/repos/{full}/pulls/comments{{/number}}",
            "statuses_url": f"{self.url}/repos/{full}/statuses/{pull.head_sha}",
            "_links": {
                name: {"href": href}
                for name, href in {
                    "self": api,
                    "html": html,
                    "issue": f"{self.url}/repos/{full}/issues/{pull.number}",
                    "comments": f"{self.url}/repos/{full}/issues/{pull.number}/comments",
                    "review_comments": f"{api}/comments",
                    "review_comment": f"{self.url}/repos/{full}/pulls/comments{{/number}}",
                    "commits": f"{api}/commits",
                    "statuses": f"{self.url}/repos/{full}/statuses/{pull.head_sha}",
                }.items()
            },
            "assignee": user_json(pull.assignees[0], "User") if pull.assignees else None,
            "assignees": [user_json(login, "User") for login in pull.assignees],
            "requested_reviewers": [user_json(login, "User") for login in pull.requested_reviewers],
            "requested_teams": [self.team_json(repo, slug) for slug in pull.requested_teams],
            "milestone": None,
            "auto_merge": None,
            "active_lock_reason": None,
            "merged_by": None,
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": pull.user,
            "body": pull.body or None,
            "labels": [self.label_json(repo, name) for name in pull.labels],
            "created_at": pull.created_at,
            "updated_at": pull.updated_at or pull.created_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": None,
            "draft": pull.draft,
            "head": side(pull.head_repo, pull.head_branch, pull.head_sha),
            "base": side(repo, pull.base_branch, pull.base_sha),
            "author_association": pull.author_association,
            "merged": pull.merged_at is not None,
            "mergeable": None,
            "mergeable_state": "unknown",
            "comments": sum(
                1
                for c in self.issue_comments.values()
                if c.repo is repo and c.number == pull.number
            ),
            "review_comments": sum(
                1
                for c in self.review_comments.values()
                if c.repo is repo and c.number == pull.number
            ),
            "maintainer_can_modify": False,
            "commits": len(commits),
            "additions": sum(change.additions for change in changes),
            "deletions": sum(change.deletions for change in changes),
            "changed_files": len(changes),
        }

    def issue_json(self, pull: Pull) -> dict[str, Any]:
        """A pull request as the issues API shows it (the `issue` schema)."""
        full = pull.repo.full_name
        api = f"{self.url}/repos/{full}/issues/{pull.number}"
        shown = self.pull_json(pull)
        return {
            "id": pull.id + 10_000_000,
            "node_id": f"I_fake{pull.id}",
            "url": api,
            "repository_url": f"{self.url}/repos/{full}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": shown["html_url"],
            "number": pull.number,
            "state": "open" if pull.state == "open" else "closed",
            "title": pull.title,
            "body": pull.body or None,
            "user": pull.user,
            "labels": shown["labels"],
            "assignee": shown["assignee"],
            "assignees": shown["assignees"],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": shown["comments"],
            "pull_request": {
                "url": shown["url"],
                "html_url": shown["html_url"],
                "diff_url": shown["diff_url"],
                "patch_url": shown["patch_url"],
                "merged_at": pull.merged_at,
            },
            "closed_at": pull.closed_at,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at or pull.created_at,
            "draft": pull.draft,
            "author_association": pull.author_association,
        }

    def label_json(self, repo: Repo, name: str) -> dict[str, Any]:
        label_id = zlib.crc32(f"{repo.full_name}:{name}".encode())
        return {
            "id": label_id,
            "node_id": f"LA_fake{label_id}",
            "url": f"{self.url}/repos/{repo.full_name}/labels/{quote(name)}",
            "name": name,
            "description": "",
            "color": "ededed",
            "default": False,
        }

    def team_json(self, repo: Repo, slug: str) -> dict[str, Any]:
        org = repo.owner["login"]
        team_id = zlib.crc32(f"{org}/{slug}".encode())
        api = f"{self.url}/organizations/{repo.owner['id']}/team/{team_id}"
        return {
            "id": team_id,
            "node_id": f"T_fake{team_id}",
            "url": api,
            "members_url": f"{api}/members{{/member}}",
            "name": slug,
            "description": None,
            "permission": "pull",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "html_url": f"{self.url}/orgs/{org}/teams/{slug}",
            "repositories_url": f"{api}/repos",
            "slug": slug,
            "parent": None,
            "type": "organization",
            "organization_id": repo.owner["id"],
        }

    def file_json(self, repo: Repo, change: FileChange, ref: str) -> dict[str, Any]:
        full = repo.full_name
        body: dict[str, Any] = {
            "sha": change.sha,
            "filename": change.path,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.url}/{full}/blob/{ref}/{change.path}",
            "raw_url": f"{self.url}/{full}/raw/{ref}/{change.path}",
            "contents_url": f"{self.url}/repos/{full}/contents/{change.path}?ref={ref}",
        }
        if change.patch:  # binary files, and empty ones, have none
            body["patch"] = change.patch
        if change.previous_path is not None:
            body["previous_filename"] = change.previous_path
        return body

    def commit_json(self, repo: Repo, commit: Commit, *, files: bool = False) -> dict[str, Any]:
        """A commit as the commits (not git data) API shows it."""
        api = f"{self.url}/repos/{repo.full_name}"
        body: dict[str, Any] = {
            "sha": commit.sha,
            "node_id": f"C_fake{commit.sha[:12]}",
            "url": f"{api}/commits/{commit.sha}",
            "html_url": f"{self.url}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{api}/commits/{commit.sha}/comments",
            "commit": {
                "author": commit.author,
                "committer": commit.committer,
                "message": commit.message,
                "tree": {"sha": commit.tree, "url": f"{api}/git/trees/{commit.tree}"},
                "url": f"{api}/git/commits/{commit.sha}",
                "comment_count": 0,
                "verification": verification(commit),
            },
            "author": None,
            "committer": None,
            "parents": [self.parent_json(repo, sha) for sha in commit.parents],
        }
        if files:
            objects = repo.objects
            old = objects.files(commit.parents[0]) if commit.parents else {}
            changes = diff_files(objects, old, objects.files(commit.sha), repo.binary)
            additions = sum(change.additions for change in changes)
            deletions = sum(change.deletions for change in changes)
            body["stats"] = {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            }
            body["files"] = [self.file_json(repo, change, commit.sha) for change in changes]
        return body

    def git_commit_json(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        """A commit as the git data API shows it."""
        api = f"{self.url}/repos/{repo.full_name}"
        return {
            "sha": commit.sha,
            "node_id": f"C_fake{commit.sha[:12]}",
            "url": f"{api}/git/commits/{commit.sha}",
            "html_url": f"{self.url}/{repo.full_name}/commit/{commit.sha}",
            "author": commit.author,
            "committer": commit.committer,
            "tree": {"sha": commit.tree, "url": f"{api}/git/trees/{commit.tree}"},
            "message": commit.message,
            "parents": [self.parent_json(repo, sha) for sha in commit.parents],
            "verification": verification(commit),
        }

    def parent_json(self, repo: Repo, sha: str) -> dict[str, str]:
        return {
            "sha": sha,
            "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
            "html_url": f"{self.url}/{repo.full_name}/commit/{sha}",
        }

    def tree_json(self, repo: Repo, sha: str, *, recursive: bool) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}/git"
        entries = []

        def walk(tree: str, prefix: str) -> None:
            for name, (mode, entry_sha) in sorted(repo.objects.trees[tree].items(), key=tree_order):
                kind = TYPE_OF_MODE[mode]
                entry: dict[str, Any] = {"path": f"{prefix}{name}", "mode": mode, "type": kind}
                entry["sha"] = entry_sha
                if kind == "blob":
                    entry["size"] = len(repo.objects.blobs[entry_sha])
                    entry["url"] = f"{api}/blobs/{entry_sha}"
                elif kind == "tree":
                    entry["url"] = f"{api}/trees/{entry_sha}"
                entries.append(entry)
                if kind == "tree" and recursive:
                    walk(entry_sha, f"{prefix}{name}/")

        walk(sha, "")
        return {"sha": sha, "url": f"{api}/trees/{sha}", "tree": entries, "truncated": False}

    def ref_json(self, repo: Repo, branch: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}/git"
        sha = repo.branches[branch]
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_fake{repo.id}{branch}",
            "url": f"{api}/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/commits/{sha}"},
        }

    def check_run_json(self, run: CheckRun) -> dict[str, Any]:
        repo = run.repo
        api = f"{self.url}/repos/{repo.full_name}/check-runs/{run.id}"
        # As on GitHub: only pull requests of this repository, never those from forks.
        pulls = [
            {
                "url": f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}",
                "id": pull.id,
                "number": pull.number,
                "head": {
                    "ref": pull.head_branch,
                    "sha": pull.head_sha,
                    "repo": self.mini_repo(repo),
                },
                "base": {
                    "ref": pull.base_branch,
                    "sha": pull.base_sha,
                    "repo": self.mini_repo(repo),
                },
            }
            for pull in repo.pulls.values()
            if pull.head_repo is repo and pull.state == "open" and pull.head_sha == run.head_sha
        ]
        return {
            "id": run.id,
            "head_sha": run.head_sha,
            "node_id": f"CR_fake{run.id}",
            "external_id": run.external_id or "",
            "url": api,
            "html_url": f"{self.url}/{repo.full_name}/runs/{run.id}",
            "details_url": run.details_url or f"{self.url}/{repo.full_name}/runs/{run.id}",
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.output.get("title"),
                "summary": run.output.get("summary"),
                "text": run.output.get("text"),
                "annotations_count": len(run.annotations),
                "annotations_url": f"{api}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": zlib.crc32(f"{run.app['id']}:{run.head_sha}".encode())},
            "app": run.app,
            "pull_requests": pulls,
        }

    def mini_repo(self, repo: Repo) -> dict[str, Any]:
        return {"id": repo.id, "url": f"{self.url}/repos/{repo.full_name}", "name": repo.name}

    def job_json(self, job: Job) -> dict[str, Any]:
        full = job.repo.full_name
        api = f"{self.url}/repos/{full}/actions"
        run = self.check_runs.get(job.check_run_id)
        return {
            "id": job.id,
            "run_id": job.run_id,
            "workflow_name": "CI",
            "head_branch": job.repo.default_branch,
            "run_url": f"{api}/runs/{job.run_id}",
            "run_attempt": 1,
            "node_id": f"CR_fake{job.id}",
            "head_sha": job.head_sha,
            "url": f"{api}/jobs/{job.id}",
            "html_url": f"{self.url}/{full}/actions/runs/{job.run_id}/job/{job.id}",
            "status": "completed" if job.conclusion else "in_progress",
            "conclusion": job.conclusion,
            "created_at": job.created_at,
            "started_at": run.started_at if run else job.created_at,
            "completed_at": (run.completed_at if run else job.created_at)
            if job.conclusion
            else None,
            "name": job.name,
            "steps": job.steps,
            "check_run_url": f"{self.url}/repos/{full}/check-runs/{job.check_run_id}",
            "labels": ["ubuntu-latest"],
            "runner_id": 1,
            "runner_name": "GitHub Actions 1",
            "runner_group_id": 2,
            "runner_group_name": "GitHub Actions",
        }

    def review_json(self, review: Review) -> dict[str, Any]:
        full = review.repo.full_name
        html = f"{self.url}/{full}/pull/{review.number}#pullrequestreview-{review.id}"
        pull_url = f"{self.url}/repos/{full}/pulls/{review.number}"
        body: dict[str, Any] = {
            "id": review.id,
            "node_id": f"PRR_fake{review.id}",
            "user": review.user,
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": "NONE",
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "commit_id": review.commit_id,
        }
        if review.submitted_at is not None:
            body["submitted_at"] = review.submitted_at
        return body

    def review_comment_json(self, comment: ReviewComment) -> dict[str, Any]:
        full = comment.repo.full_name
        api = f"{self.url}/repos/{full}/pulls/comments/{comment.id}"
        html = f"{self.url}/{full}/pull/{comment.number}#discussion_r{comment.id}"
        pull_url = f"{self.url}/repos/{full}/pulls/{comment.number}"
        return {
            "url": api,
            "pull_request_review_id": comment.review_id,
            "id": comment.id,
            "node_id": f"PRRC_fake{comment.id}",
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": comment.position,
            "original_position": comment.position,
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "user": comment.user,
            "body": comment.body,
            "created_at": comment.created_at,
            "updated_at": comment.created_at,
            "html_url": html,
            "pull_request_url": pull_url,
            "author_association": "NONE",
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": pull_url},
            },
            "start_line": comment.start_line,
            "original_start_line": comment.start_line,
            "start_side": comment.start_side,
            "line": comment.line,
            "original_line": comment.line,
            "side": comment.side,
            "subject_type": "line",
        }

    def issue_comment_json(self, comment: IssueComment) -> dict[str, Any]:
        full = comment.repo.full_name
        return {
            "id": comment.id,
            "node_id": f"IC_fake{comment.id}",
            "url": f"{self.url}/repos/{full}/issues/comments/{comment.id}",
            "html_url": f"{self.url}/{full}/pull/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{self.url}/repos/{full}/issues/{comment.number}",
            "body": comment.body,
            "user": comment.user,
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": "NONE",
            "performed_via_github_app": self.app_of(self.slug),
        }


def user_json(login: str, kind: str) -> dict[str, Any]:
    return core.account(login, kind)


def annotation_json(annotation: Mapping[str, Any]) -> dict[str, Any]:
    start = annotation.get("start_line")
    return {
        "path": annotation.get("path"),
        "start_line": start,
        "end_line": annotation.get("end_line", start),
        "start_column": annotation.get("start_column"),
        "end_column": annotation.get("end_column"),
        "annotation_level": annotation.get("annotation_level", "failure"),
        "title": annotation.get("title"),
        "message": annotation.get("message"),
        "raw_details": annotation.get("raw_details"),
    }


def verification(commit: Commit) -> dict[str, Any]:
    reason = "valid" if commit.verified else "unsigned"
    return {
        "verified": commit.verified,
        "reason": reason,
        "signature": None,
        "payload": None,
        "verified_at": commit.committer["date"] if commit.verified else None,
    }


def now() -> datetime:
    return core.now()


def iso(moment: datetime) -> str:
    return core.iso(moment)


def stamp() -> str:
    return iso(now())


def changed(repo: Repo) -> None:
    """The repository changed: its updated_at moves on, as GitHub's does with a change to the
    repository (a rename, a transfer, its visibility or default branch, archiving), never back.
    Past its previous one by a second at least, so a test's payloads made before and after a
    change are told apart by it (GitHub's whole seconds can tie; the arrival settles those)."""
    before = datetime.fromisoformat(repo.updated_at or repo.created_at).timestamp()
    repo.updated_at = iso(datetime.fromtimestamp(max(int(now().timestamp()), int(before) + 1), UTC))


# Access


def repo_for(request: Request, *permissions: str, write: bool = False) -> Repo:
    """The repository in the path as the request's installation token may use it, or the error
    GitHub gives: 404 when it cannot see it, 403 when it may not do this."""
    github = core.github_of(request)
    installation_id = core.installation_auth(request)
    key = f"{request.path_params['owner']}/{request.path_params['repo']}".lower()
    repo = github.repos.get(key)
    if repo is None:
        raise core.GitHubError(404, "Not Found")
    if repo.installation_id != installation_id:
        if repo.private:
            raise core.GitHubError(404, "Not Found")
        if write:  # a public repository of someone else: read like anyone, never written
            raise core.GitHubError(403, NOT_ACCESSIBLE)
        return repo
    granted = github.installations[installation_id]["permissions"]
    wanted = ("write",) if write else ("read", "write")
    if permissions and not any(granted.get(name) in wanted for name in permissions):
        raise core.GitHubError(403, NOT_ACCESSIBLE)
    return repo


def pull_of(request: Request, repo: Repo) -> Pull:
    pull = repo.pulls.get(request.path_params["number"])
    if pull is None:
        raise core.GitHubError(404, "Not Found")
    return pull


def invalid(message: str) -> core.GitHubError:
    """A request the schema refuses, worded as GitHub words it."""
    return core.GitHubError(422, f"Invalid request.\n\n{message}")


def unprocessable(error: str, documentation_url: str = DOCS) -> core.GitHubError:
    return core.GitHubError(
        422, "Unprocessable Entity", errors=[error], documentation_url=documentation_url
    )


def too_long(limit: int, value: str) -> core.GitHubError:
    return invalid(f"Only {limit} characters are allowed; {len(value)} were supplied.")


def body_too_long() -> str:
    return f"Body is too long (maximum is {MAX_BODY} characters)"


def required_text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise invalid(f'"{key}" wasn\'t supplied.')
    return value


# Endpoints: repositories, pull requests, diffs


async def get_repo(request: Request) -> Response:
    return core.reply(core.github_of(request).repo_json(repo_for(request)))


# Left out of the pull requests list: GitHub computes them for a single pull request only.
FULL_PULL_ONLY = (
    "merged",
    "mergeable",
    "mergeable_state",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)
PULL_SORTS = {
    "created": lambda pull: pull.created_at,
    "updated": lambda pull: pull.updated_at or pull.created_at,
}


async def list_pulls(request: Request) -> Response:
    """state open (default), closed or all; sort created (default) or updated, newest first
    unless direction=asc; ties by number, as creation order."""
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests")
    query = request.query_params
    state = query.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise invalid(
            f'For \'properties/state\', "{state}" is not one of ["open", "closed", "all"].'
        )
    sort = PULL_SORTS.get(query.get("sort", "created"), PULL_SORTS["created"])
    pulls = sorted(
        (p for p in repo.pulls.values() if state == "all" or p.state == state),
        key=lambda pull: (sort(pull), pull.number),
        reverse=query.get("direction", "desc") != "asc",
    )
    window, headers = core.page_window(request, len(pulls))
    listed = [
        {k: v for k, v in github.pull_json(pull).items() if k not in FULL_PULL_ONLY}
        for pull in pulls[window]
    ]
    return core.reply(listed, headers=headers)


async def get_pull(request: Request) -> Response:
    repo = repo_for(request, "pull_requests")
    return core.reply(core.github_of(request).pull_json(pull_of(request, repo)))


async def list_pull_files(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests")
    pull = pull_of(request, repo)
    head = pull.head_sha
    listed = pull.changes()[:MAX_PULL_FILES]
    return core.paged(request, [github.file_json(repo, c, head) for c in listed])


async def list_pull_commits(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests")
    pull = pull_of(request, repo)
    base = repo.objects.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
    commits = repo.objects.between(base, pull.head_sha)
    return core.paged(request, [github.commit_json(repo, commit) for commit in commits])


async def compare(request: Request) -> Response:
    """base...head: what head has since its merge base with base, as a three-dot diff, cut as
    GitHub cuts it (MAX_COMPARE_COMMITS, MAX_COMPARE_FILES): later pages carry no files."""
    github = core.github_of(request)
    repo = repo_for(request, "contents")
    base_ref, dots, head_ref = request.path_params["basehead"].partition("...")
    base, head = repo.resolve(base_ref), repo.resolve(head_ref)
    if not dots or base is None or head is None:
        raise core.GitHubError(404, "Not Found")
    objects = repo.objects
    merge_base = objects.merge_base(base, head)
    if merge_base is None:
        raise core.GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead, behind = objects.between(base, head), objects.between(head, base)
    status = "identical"
    if ahead and behind:
        status = "diverged"
    elif ahead or behind:
        status = "ahead" if ahead else "behind"
    changes = diff_files(objects, objects.files(merge_base), objects.files(head), repo.binary)
    basehead = request.path_params["basehead"]
    headers: dict[str, str] = {}
    listed, files = ahead[-MAX_COMPARE_COMMITS:], changes[:MAX_COMPARE_FILES]
    if {"per_page", "page"} & set(request.query_params):
        window, headers = core.page_window(request, len(ahead))
        listed = ahead[window]
        if window.start:
            files = []
    body = {
        "url": f"{github.url}/repos/{repo.full_name}/compare/{basehead}",
        "html_url": f"{github.url}/{repo.full_name}/compare/{basehead}",
        "permalink_url": f"{github.url}/{repo.full_name}/compare/{base}...{head}",
        "diff_url": f"{github.url}/{repo.full_name}/compare/{basehead}.diff",
        "patch_url": f"{github.url}/{repo.full_name}/compare/{basehead}.patch",
        "base_commit": github.commit_json(repo, objects.commits[base]),
        "merge_base_commit": github.commit_json(repo, objects.commits[merge_base]),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [github.commit_json(repo, commit) for commit in listed],
        "files": [github.file_json(repo, change, head) for change in files],
    }
    return core.reply(body, headers=headers)


async def get_branch(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "contents")
    name = request.path_params["branch"]
    if name not in repo.branches:
        raise core.GitHubError(404, "Branch not found")
    commit = repo.objects.commits[repo.branches[name]]
    api = f"{github.url}/repos/{repo.full_name}/branches/{name}"
    return core.reply(
        {
            "name": name,
            "commit": github.commit_json(repo, commit),
            "_links": {"self": api, "html": f"{github.url}/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {
                    "enforcement_level": "off",
                    "contexts": [],
                    "checks": [],
                },
            },
            "protection_url": f"{api}/protection",
        }
    )


async def get_commit(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "contents")
    ref = request.path_params["ref"]
    sha = repo.resolve(ref)
    if sha is None:
        raise core.GitHubError(422, f"No commit found for SHA: {ref}")
    return core.reply(github.commit_json(repo, repo.objects.commits[sha], files=True))


async def get_contents(request: Request) -> Response:
    """A file (base64, in lines of 60 as GitHub sends it) or a directory listing, at `ref`."""
    github = core.github_of(request)
    repo = repo_for(request, "contents")
    ref = request.query_params.get("ref") or repo.default_branch
    sha = repo.resolve(ref)
    if sha is None:
        raise core.GitHubError(404, f"No commit found for the ref {ref}")
    path = request.path_params.get("path", "").strip("/")
    objects = repo.objects
    mode, found = DIR_MODE, objects.commits[sha].tree
    for name in path.split("/") if path else []:
        if mode != DIR_MODE or name not in objects.trees[found]:
            raise core.GitHubError(404, "Not Found")
        mode, found = objects.trees[found][name]
    api = f"{github.url}/repos/{repo.full_name}"

    def entry(entry_path: str, entry_mode: str, entry_sha: str) -> dict[str, Any]:
        kind = "dir" if entry_mode == DIR_MODE else "file"
        view = "tree" if kind == "dir" else "blob"
        html = f"{github.url}/{repo.full_name}/{view}/{ref}/{entry_path}"
        git = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry_sha}"
        size = len(objects.blobs.get(entry_sha, b"")) if kind == "file" else 0
        raw = f"{github.url}/{repo.full_name}/raw/{sha}/{entry_path}" if kind == "file" else None
        url = f"{api}/contents/{entry_path}?ref={ref}"
        return {
            "type": kind,
            "size": size,
            "name": entry_path.rsplit("/", 1)[-1],
            "path": entry_path,
            "sha": entry_sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": raw,
            "_links": {"self": url, "git": git, "html": html},
        }

    if mode == DIR_MODE:
        children = sorted(objects.trees[found].items(), key=tree_order)
        prefix = f"{path}/" if path else ""
        return core.reply([entry(f"{prefix}{name}", m, s) for name, (m, s) in children])
    data = objects.blobs[found]
    body = entry(path, mode, found)
    if len(data) > MAX_CONTENTS:
        body.update(encoding="none", content="")
    else:
        encoded = base64.b64encode(data).decode()
        lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
        body.update(encoding="base64", content="".join(f"{line}\n" for line in lines))
    return core.reply(body)


# Endpoints: reviews and comments


@dataclass(frozen=True)
class Anchor:
    path: str
    body: str
    line: int
    side: str
    start_line: int | None
    start_side: str | None
    position: int
    diff_hunk: str


def anchor(changes: Mapping[str, FileChange], comment: Any) -> Anchor:
    """Where a review comment goes in the diff; 422 as GitHub refuses it when it is outside."""
    if not isinstance(comment, dict):
        raise invalid("For 'items', comments must be objects.")
    path, body = required_text(comment, "path"), required_text(comment, "body")
    if len(body) > MAX_BODY:
        raise unprocessable(body_too_long(), REVIEW_DOCS)
    change = changes.get(path)
    if change is None:
        raise unprocessable("Path could not be resolved", REVIEW_DOCS)
    hunks = change.hunks()
    line, side = comment.get("line"), comment.get("side") or "RIGHT"
    if line is None and core.is_integer(comment.get("position")):
        # The older way: a count of lines down from the file's first @@.
        position = comment["position"]
        for hunk in hunks:
            for number, index in hunk.right.items():
                if index == position:
                    line, side = number, "RIGHT"
            for number, index in hunk.left.items():
                if index == position and line is None:
                    line, side = number, "LEFT"
    if side not in ("LEFT", "RIGHT") or not core.is_integer(line):
        raise unprocessable("Line could not be resolved", REVIEW_DOCS)
    assert isinstance(line, int)
    found = [hunk for hunk in hunks if line in (hunk.right if side == "RIGHT" else hunk.left)]
    if not found:
        raise unprocessable("Line could not be resolved", REVIEW_DOCS)
    hunk = found[0]
    index = (hunk.right if side == "RIGHT" else hunk.left)[line]
    start_line, start_side = comment.get("start_line"), None
    if start_line is not None:
        start_side = comment.get("start_side") or side
        lines = hunk.right if start_side == "RIGHT" else hunk.left
        if not core.is_integer(start_line) or start_line not in lines:
            raise unprocessable(
                "Pull request review thread start line must be part of the same hunk as the line.",
                REVIEW_DOCS,
            )
        if lines[start_line] >= index:
            raise unprocessable(
                "Pull request review thread start line must precede the end line.", REVIEW_DOCS
            )
    diff_hunk = "\n".join(change.lines[hunk.start : index + 1])
    return Anchor(path, body, line, side, start_line, start_side, index, diff_hunk)


async def create_review(request: Request) -> Response:
    """All or nothing, as on GitHub: one comment outside the diff refuses the whole review."""
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests", write=True)
    pull = pull_of(request, repo)
    data = await core.json_body(request)
    event, body = data.get("event"), data.get("body") or ""
    if event is not None and event not in REVIEW_STATES:
        choices = ", ".join(f'"{name}"' for name in REVIEW_STATES)
        raise invalid(f"For 'properties/event', \"{event}\" is not one of [{choices}].")
    if not isinstance(body, str):
        raise invalid("For 'properties/body', the body is not a string.")
    if len(body) > MAX_BODY:
        raise unprocessable(body_too_long(), REVIEW_DOCS)
    bot = github.bot_user()
    if event in ("APPROVE", "REQUEST_CHANGES") and pull.user["login"] == bot["login"]:
        verb = "approve" if event == "APPROVE" else "request changes on"
        raise unprocessable(f"Can not {verb} your own pull request", REVIEW_DOCS)
    comments = data.get("comments") or []
    if event in ("REQUEST_CHANGES", "COMMENT") and not body and not comments:
        raise unprocessable(f"Review body is required for event {event}", REVIEW_DOCS)
    pending = [
        r
        for r in github.reviews.values()
        if r.repo is repo and r.number == pull.number and r.state == "PENDING"
    ]
    if event is None and pending:
        raise unprocessable("User can only have one pending review per pull request", REVIEW_DOCS)
    commit_id = data.get("commit_id") or pull.head_sha
    sha = repo.resolve(commit_id) if isinstance(commit_id, str) else None
    if sha is None or sha not in repo.objects.ancestors(pull.head_sha):
        raise unprocessable("Commit could not be resolved", REVIEW_DOCS)
    if not isinstance(comments, list):
        raise invalid("For 'properties/comments', comments is not an array.")
    changes = {change.path: change for change in pull.changes(sha)}
    anchors = [anchor(changes, comment) for comment in comments]

    at = stamp()
    review = Review(
        id=next(github._ids),
        repo=repo,
        number=pull.number,
        user=bot,
        body=body,
        state=REVIEW_STATES[event] if event else "PENDING",
        commit_id=sha,
        submitted_at=at if event else None,
        comment_ids=[],
    )
    github.reviews[review.id] = review
    for placed in anchors:
        comment = ReviewComment(
            id=next(github._ids),
            repo=repo,
            number=pull.number,
            review_id=review.id,
            user=bot,
            body=placed.body,
            path=placed.path,
            line=placed.line,
            side=placed.side,
            start_line=placed.start_line,
            start_side=placed.start_side,
            position=placed.position,
            diff_hunk=placed.diff_hunk,
            commit_id=sha,
            created_at=at,
        )
        github.review_comments[comment.id] = comment
        review.comment_ids.append(comment.id)
    return core.reply(github.review_json(review))


async def delete_pending_review(request: Request) -> Response:
    """Only a pending review can be deleted; its comments go with it."""
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests", write=True)
    pull = pull_of(request, repo)
    review = github.reviews.get(request.path_params["review_id"])
    if review is None or review.repo is not repo or review.number != pull.number:
        raise core.GitHubError(404, "Not Found")
    if review.state != "PENDING":
        raise unprocessable("Can not delete a non-pending pull request review", REVIEW_DOCS)
    answer = github.review_json(review)
    del github.reviews[review.id]
    for comment_id in review.comment_ids:
        github.review_comments.pop(comment_id, None)
    return core.reply(answer)


async def list_reviews(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests")
    pull = pull_of(request, repo)
    reviews = [r for r in github.reviews.values() if r.repo is repo and r.number == pull.number]
    return core.paged(request, [github.review_json(review) for review in reviews])


async def list_review_comments(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests")
    pull = pull_of(request, repo)
    comments = [
        github.review_comment_json(c)
        for c in github.review_comments.values()
        if c.repo is repo and c.number == pull.number
    ]
    return core.paged(request, comments)


def comment_body(data: Mapping[str, Any]) -> str:
    body = required_text(data, "body")
    if len(body) > MAX_BODY:
        error = {
            "resource": "IssueComment",
            "code": "unprocessable",
            "field": "data",
            "message": body_too_long(),
        }
        raise core.GitHubError(
            422, "Validation Failed", errors=[error], documentation_url=COMMENT_DOCS
        )
    return body


async def create_issue_comment(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "issues", "pull_requests", write=True)
    pull = pull_of(request, repo)  # the fake has pull requests, not plain issues
    body = comment_body(await core.json_body(request))
    at = stamp()
    comment = IssueComment(
        id=next(github._ids),
        repo=repo,
        number=pull.number,
        user=github.bot_user(),
        body=body,
        created_at=at,
        updated_at=at,
    )
    github.issue_comments[comment.id] = comment
    return core.reply(github.issue_comment_json(comment), status_code=201)


async def add_labels(request: Request) -> Response:
    """POST /issues/{n}/labels: labels the repository lacks are created, as on GitHub."""
    github = core.github_of(request)
    repo = repo_for(request, "issues", "pull_requests", write=True)
    pull = pull_of(request, repo)
    data = await core.json_body(request)
    labels = data.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise invalid('"labels" wasn\'t supplied.')
    for name in labels:
        if name not in pull.labels:
            pull.labels.append(name)
    pull.updated_at = stamp()
    return core.reply([github.label_json(repo, name) for name in pull.labels])


async def remove_label(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "issues", "pull_requests", write=True)
    pull = pull_of(request, repo)
    name = request.path_params["name"]
    if name not in pull.labels:
        raise core.GitHubError(404, "Label does not exist")
    pull.labels.remove(name)
    pull.updated_at = stamp()
    return core.reply([github.label_json(repo, label) for label in pull.labels])


async def add_assignees(request: Request) -> Response:
    """POST /issues/{n}/assignees: who may not be assigned is left out, silently, as on
    GitHub (a collaborator, or the author, may be)."""
    github = core.github_of(request)
    repo = repo_for(request, "issues", "pull_requests", write=True)
    pull = pull_of(request, repo)
    data = await core.json_body(request)
    wanted = data.get("assignees")
    if not isinstance(wanted, list) or not all(isinstance(x, str) for x in wanted):
        raise invalid('"assignees" wasn\'t supplied.')
    for login in wanted:
        allowed = login in repo.collaborators or login == pull.user["login"]
        if allowed and login not in pull.assignees and len(pull.assignees) < 10:
            pull.assignees.append(login)
    return core.reply(github.issue_json(pull), status_code=201)


async def request_reviewers(request: Request) -> Response:
    """POST /pulls/{n}/requested_reviewers: 422 for the author or someone who is not a
    collaborator, as GitHub answers."""
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests", write=True)
    pull = pull_of(request, repo)
    data = await core.json_body(request)
    people, teams = data.get("reviewers") or [], data.get("team_reviewers") or []
    if not people and not teams:
        raise invalid('"reviewers" wasn\'t supplied.')
    for login in people:
        if login == pull.user["login"]:
            raise unprocessable("Review cannot be requested from pull request author.")
        if login not in repo.collaborators:
            raise core.GitHubError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or"
                " teams you specified is not a collaborator of the "
                f"{repo.full_name} repository.",
            )
    for slug in teams:
        if slug not in repo.teams:
            raise core.GitHubError(422, f"Could not resolve to a node with the global id of {slug}")
    pull.requested_reviewers += [x for x in people if x not in pull.requested_reviewers]
    pull.requested_teams += [x for x in teams if x not in pull.requested_teams]
    return core.reply(github.pull_json(pull), status_code=201)


async def update_pull(request: Request) -> Response:
    """PATCH /pulls/{n}: title, body, state (closing only what is open)."""
    github = core.github_of(request)
    repo = repo_for(request, "pull_requests", write=True)
    pull = pull_of(request, repo)
    data = await core.json_body(request)
    if "title" in data:
        pull.title = required_text(data, "title")
    if "body" in data:
        pull.body = str(data.get("body") or "")
    state = data.get("state")
    if state not in (None, "open", "closed"):
        raise invalid("state is not one of open, closed")
    at = stamp()
    if state == "closed" and pull.state == "open":
        pull.state, pull.closed_at = "closed", at
    elif state == "open" and pull.state == "closed" and pull.merged_at is None:
        pull.state, pull.closed_at = "open", None
    pull.updated_at = at
    return core.reply(github.pull_json(pull))


async def collaborator_permission(request: Request) -> Response:
    """GET /collaborators/{username}/permission: admin, write, read or none; GitHub answers
    404 for a user it does not know at all, which the fake never meets."""
    repo = repo_for(request)
    login = request.path_params["username"]
    permission = repo.collaborators.get(login) or ("none" if repo.private else "read")
    return core.reply(
        {
            "permission": permission,
            "role_name": permission,
            "user": {
                **user_json(login, "User"),
                "role_name": permission,
                "permissions": {
                    "admin": permission == "admin",
                    "maintain": permission == "admin",
                    "push": permission in ("admin", "write"),
                    "triage": permission in ("admin", "write"),
                    "pull": permission != "none",
                },
            },
        }
    )


def issue_comment_of(request: Request, repo: Repo) -> IssueComment:
    comment = core.github_of(request).issue_comments.get(request.path_params["comment_id"])
    if comment is None or comment.repo is not repo:
        raise core.GitHubError(404, "Not Found")
    return comment


async def get_issue_comment(request: Request) -> Response:
    repo = repo_for(request, "issues", "pull_requests")
    comment = issue_comment_of(request, repo)
    return core.reply(core.github_of(request).issue_comment_json(comment))


async def update_issue_comment(request: Request) -> Response:
    repo = repo_for(request, "issues", "pull_requests", write=True)
    comment = issue_comment_of(request, repo)
    comment.body = comment_body(await core.json_body(request))
    comment.updated_at = stamp()
    return core.reply(core.github_of(request).issue_comment_json(comment))


async def list_issue_comments(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "issues", "pull_requests")
    pull = pull_of(request, repo)
    comments = [
        github.issue_comment_json(c)
        for c in github.issue_comments.values()
        if c.repo is repo and c.number == pull.number
    ]
    return core.paged(request, comments)


# Endpoints: check runs


def check_output(output: Any, *, creating: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The output's texts and its annotations, checked against GitHub's limits."""
    if not isinstance(output, dict):
        raise invalid("For 'properties/output', output is not an object.")
    keys = ("title", "summary") if creating else ("summary",)
    texts = {key: required_text(output, key) for key in keys}
    for key in ("title", "text"):
        if key in output and output[key] is not None:
            texts[key] = required_text(output, key)
    for key in ("summary", "text"):
        if len(texts.get(key) or "") > MAX_CHECK_TEXT:
            raise too_long(MAX_CHECK_TEXT, texts[key])
    annotations = output.get("annotations") or []
    if not isinstance(annotations, list):
        raise invalid("For 'properties/annotations', annotations is not an array.")
    if len(annotations) > MAX_ANNOTATIONS:
        raise invalid(
            f"No more than {MAX_ANNOTATIONS} items are allowed; {len(annotations)} were supplied."
        )
    for annotation in annotations:
        if not isinstance(annotation, dict):
            raise invalid("For 'items', annotations must be objects.")
        for key in ("path", "message"):
            required_text(annotation, key)
        for key in ("start_line", "end_line"):
            if not core.is_integer(annotation.get(key)):
                raise invalid(f'"{key}" wasn\'t supplied.')
        level = annotation.get("annotation_level")
        if level not in ANNOTATION_LEVELS:
            choices = ", ".join(f'"{name}"' for name in ANNOTATION_LEVELS)
            raise invalid(
                f"For 'properties/annotation_level', \"{level}\" is not one of [{choices}]."
            )
    return texts, [annotation_json(a) for a in annotations]


def check_actions(actions: Any) -> list[dict[str, Any]]:
    if not isinstance(actions, list):
        raise invalid("For 'properties/actions', actions is not an array.")
    if len(actions) > MAX_ACTIONS:
        raise invalid(
            f"No more than {MAX_ACTIONS} items are allowed; {len(actions)} were supplied."
        )
    for action in actions:
        if not isinstance(action, dict):
            raise invalid("For 'items', actions must be objects.")
        for key, limit in ACTION_LIMITS.items():
            if len(required_text(action, key)) > limit:
                raise too_long(limit, action[key])
    return [{key: action[key] for key in ACTION_LIMITS} for action in actions]


def apply_check_run(run: CheckRun, data: Mapping[str, Any], *, creating: bool) -> None:
    """Validate everything first, then change the run: a refused request changes nothing."""
    status = data.get("status", run.status)
    conclusion = data.get("conclusion", run.conclusion if "status" not in data else None)
    if "conclusion" in data and data["conclusion"] is not None:
        status = "completed"
    if status not in CHECK_STATUSES:
        choices = ", ".join(f'"{name}"' for name in CHECK_STATUSES)
        raise invalid(f"For 'properties/status', \"{status}\" is not one of [{choices}].")
    if status == "completed" and conclusion not in CONCLUSIONS:
        if conclusion is None:
            raise invalid('No subschema in "anyOf" matched.\n"conclusion" wasn\'t supplied.')
        choices = ", ".join(f'"{name}"' for name in CONCLUSIONS)
        raise invalid(f"For 'properties/conclusion', \"{conclusion}\" is not one of [{choices}].")
    texts: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    if data.get("output") is not None:
        texts, annotations = check_output(data["output"], creating=creating)
    actions = check_actions(data["actions"]) if "actions" in data else run.actions
    for key in ("details_url", "external_id"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise invalid(f"For 'properties/{key}', {data[key]!r} is not a string.")

    if status == "completed" and run.status != "completed":
        run.completed_at = data.get("completed_at") or stamp()
    run.status, run.conclusion = status, conclusion if status == "completed" else None
    run.output = {**run.output, **texts}
    run.annotations += annotations  # GitHub adds annotations; it never replaces them
    run.actions = actions
    run.name = data.get("name") or run.name
    run.details_url = data.get("details_url", run.details_url)
    run.external_id = data.get("external_id", run.external_id)


async def create_check_run(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "checks", write=True)
    data = await core.json_body(request)
    name, head_sha = required_text(data, "name"), required_text(data, "head_sha")
    if head_sha not in repo.objects.commits:
        raise core.GitHubError(422, f"No commit found for SHA: {head_sha}")
    run = CheckRun(
        id=next(github._ids),
        repo=repo,
        head_sha=head_sha,
        name=name,
        app=github.app_of(github.slug),
        status="queued",
        conclusion=None,
        started_at=data.get("started_at") or stamp(),
        completed_at=None,
        output={"title": None, "summary": None, "text": None},
    )
    apply_check_run(run, data, creating=True)
    github.check_runs[run.id] = run
    return core.reply(github.check_run_json(run), status_code=201)


def check_run_of(request: Request, repo: Repo) -> CheckRun:
    run = core.github_of(request).check_runs.get(request.path_params["check_run_id"])
    if run is None or run.repo is not repo:
        raise core.GitHubError(404, "Not Found")
    return run


async def update_check_run(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "checks", write=True)
    run = check_run_of(request, repo)
    if run.app["id"] != github.app_id:
        raise core.GitHubError(
            403,
            f"Invalid app_id `{run.app['id']}` - check run can only be modified by the GitHub App"
            " that created it.",
        )
    apply_check_run(run, await core.json_body(request), creating=False)
    return core.reply(github.check_run_json(run))


async def get_check_run(request: Request) -> Response:
    repo = repo_for(request, "checks")
    return core.reply(core.github_of(request).check_run_json(check_run_of(request, repo)))


async def list_annotations(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "checks")
    run = check_run_of(request, repo)
    blob = f"{github.url}/{repo.full_name}/blob/{run.head_sha}"
    annotations = [{**a, "blob_href": f"{blob}/{a['path']}"} for a in run.annotations]
    return core.paged(request, annotations)


async def list_check_runs_for_ref(request: Request) -> Response:
    """Newest first; by default only the latest run of each name per App (filter=latest)."""
    github = core.github_of(request)
    repo = repo_for(request, "checks")
    ref = request.path_params["ref"]
    sha = repo.resolve(ref)
    if sha is None:
        raise core.GitHubError(422, f"No commit found for SHA: {ref}")
    query = request.query_params
    runs = sorted(
        (r for r in github.check_runs.values() if r.repo is repo and r.head_sha == sha),
        key=lambda run: run.id,
        reverse=True,
    )
    if query.get("filter", "latest") == "latest":
        seen: set[tuple[int, str]] = set()
        latest = []
        for run in runs:
            if (run.app["id"], run.name) not in seen:
                seen.add((run.app["id"], run.name))
                latest.append(run)
        runs = latest
    if "check_name" in query:
        runs = [run for run in runs if run.name == query["check_name"]]
    if "status" in query:
        runs = [run for run in runs if run.status == query["status"]]
    if "app_id" in query:
        runs = [run for run in runs if str(run.app["id"]) == query["app_id"]]
    window, headers = core.page_window(request, len(runs))
    body = {
        "total_count": len(runs),
        "check_runs": [github.check_run_json(run) for run in runs[window]],
    }
    return core.reply(body, headers=headers)


# Endpoints: Actions jobs and their logs


def job_of(request: Request, repo: Repo) -> Job:
    job = core.github_of(request).jobs.get(request.path_params["job_id"])
    if job is None or job.repo is not repo:
        raise core.GitHubError(404, "Not Found")
    return job


async def list_run_jobs(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "actions")
    run_id = request.path_params["run_id"]
    jobs = [j for j in github.jobs.values() if j.repo is repo and j.run_id == run_id]
    if not jobs:
        raise core.GitHubError(404, "Not Found")
    window, headers = core.page_window(request, len(jobs))
    body = {"total_count": len(jobs), "jobs": [github.job_json(job) for job in jobs[window]]}
    return core.reply(body, headers=headers)


async def get_job(request: Request) -> Response:
    repo = repo_for(request, "actions")
    return core.reply(core.github_of(request).job_json(job_of(request, repo)))


async def download_job_logs(request: Request) -> Response:
    """302 to a link that needs no credentials and dies after blob_ttl seconds (GitHub: 1 min)."""
    github = core.github_of(request)
    repo = repo_for(request, "actions")
    job = job_of(request, repo)
    token = secrets.token_urlsafe(24)
    expires_at = now() + timedelta(seconds=github.blob_ttl)
    query = f"se={iso(expires_at)}&sp=r&sig={token[:16]}"
    url = f"{github.url}{BLOB_PREFIX}logs/{token}?{query}"
    github.signed_urls[token] = SignedURL(
        url=url, job_id=job.id, text=job.log, expires_at=expires_at
    )
    return RedirectResponse(url, status_code=302)


async def signed_blob(request: Request) -> Response:
    """The blob store behind a log link: no GitHub auth; expired or unknown links are refused."""
    signed = core.github_of(request).signed_urls.get(request.path_params["token"])
    if signed is None:
        return Response(BLOB_NOT_FOUND, status_code=404, media_type="application/xml")
    moment = now()
    if moment >= signed.expires_at:
        text = BLOB_EXPIRED.format(expiry=iso(signed.expires_at), now=iso(moment))
        return Response(text, status_code=403, media_type="application/xml")
    signed.downloads += 1
    return Response(signed.text, media_type="text/plain; charset=utf-8")


# Endpoints: git data


def commit_of(repo: Repo, sha: str) -> Commit:
    commit = repo.objects.commits.get(sha)
    if commit is None:
        raise core.GitHubError(404, "Not Found")
    return commit


async def get_ref(request: Request) -> Response:
    repo = repo_for(request, "contents")
    ref = request.path_params["ref"]
    branch = ref[len("heads/") :] if ref.startswith("heads/") else None
    if branch is None or branch not in repo.branches:
        raise core.GitHubError(404, "Not Found")
    return core.reply(core.github_of(request).ref_json(repo, branch))


async def get_git_commit(request: Request) -> Response:
    repo = repo_for(request, "contents")
    commit = commit_of(repo, request.path_params["sha"])
    return core.reply(core.github_of(request).git_commit_json(repo, commit))


async def get_tree(request: Request) -> Response:
    """A tree by its sha, or the tree of a commit or branch, as GitHub also accepts."""
    repo = repo_for(request, "contents")
    sha = request.path_params["sha"]
    if sha not in repo.objects.trees:
        commit = repo.resolve(sha)
        if commit is None:
            raise core.GitHubError(404, "Not Found")
        sha = repo.objects.commits[commit].tree
    recursive = request.query_params.get("recursive") not in (None, "", "0", "false")
    return core.reply(core.github_of(request).tree_json(repo, sha, recursive=recursive))


async def create_blob(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "contents", write=True)
    data = await core.json_body(request)
    content = required_text(data, "content")
    encoding = data.get("encoding", "utf-8")
    if encoding in ("utf-8", "utf8"):
        raw = content.encode()
    elif encoding == "base64":
        try:
            raw = base64.b64decode(content, validate=False)
        except ValueError:
            raise core.GitHubError(422, "Invalid base64 content") from None
    else:
        raise core.GitHubError(422, f"encoding must be 'utf-8' or 'base64', not {encoding!r}")
    sha = repo.objects.put_blob(raw)
    url = f"{github.url}/repos/{repo.full_name}/git/blobs/{sha}"
    return core.reply({"url": url, "sha": sha}, status_code=201)


async def create_tree(request: Request) -> Response:
    """Entries over base_tree: content or an existing blob or tree by sha; sha null deletes."""
    github = core.github_of(request)
    repo = repo_for(request, "contents", write=True)
    data = await core.json_body(request)
    objects = repo.objects
    entries = data.get("tree")
    if not isinstance(entries, list):
        raise invalid('"tree" wasn\'t supplied.')
    base_tree = data.get("base_tree")
    if base_tree is not None and base_tree not in objects.trees:
        raise core.GitHubError(422, "base_tree is not a valid tree oid")
    flat = objects.flatten(base_tree) if base_tree else {}
    for item in entries:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise core.GitHubError(422, "Invalid tree info")
        path, mode, kind = item["path"].strip("/"), item.get("mode"), item.get("type")
        if TYPE_OF_MODE.get(str(mode)) != kind or not path:
            raise core.GitHubError(422, "Invalid tree info")
        has_sha, has_content = "sha" in item, "content" in item
        if has_sha == has_content:
            raise core.GitHubError(422, "Must supply either tree.sha or tree.content")
        under = f"{path}/"
        for existing in [p for p in flat if p == path or p.startswith(under)]:
            del flat[existing]
        sha = item.get("sha")
        if has_content:
            if kind != "blob" or not isinstance(item["content"], str):
                raise core.GitHubError(422, "Invalid tree info")
            flat[path] = (str(mode), objects.put_blob(item["content"].encode()))
        elif sha is None:
            continue  # deleted
        elif (kind == "blob" and sha in objects.blobs) or kind == "commit":
            flat[path] = (str(mode), sha)
        elif kind == "tree" and sha in objects.trees:
            flat.update({f"{under}{p}": e for p, e in objects.flatten(sha).items()})
        else:
            raise core.GitHubError(422, f"tree.sha {sha} is not a valid {kind}")
    tree = objects.put_tree(flat)
    return core.reply(github.tree_json(repo, tree, recursive=False), status_code=201)


async def create_git_commit(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "contents", write=True)
    data = await core.json_body(request)
    message, tree = required_text(data, "message"), required_text(data, "tree")
    parents = data.get("parents") or []
    if tree not in repo.objects.trees:
        raise core.GitHubError(422, "Tree SHA does not exist")
    if not isinstance(parents, list) or any(p not in repo.objects.commits for p in parents):
        raise core.GitHubError(422, "Parent SHA does not exist or is not a commit object")
    author, committer = data.get("author"), data.get("committer")
    for key, person in (("author", author), ("committer", committer)):
        if person is None:
            continue
        if not isinstance(person, dict):
            raise invalid(f"For 'properties/{key}', {person!r} is not an object.")
        for name in ("name", "email"):
            required_text(person, name)
        try:
            datetime.fromisoformat(person.get("date") or stamp())
        except (TypeError, ValueError):
            date = person["date"]
            raise invalid(f"For 'properties/date', {date!r} is not a date-time.") from None
    commit = github._commit(repo, tree, parents, message, author=author, committer=committer)
    return core.reply(github.git_commit_json(repo, commit), status_code=201)


async def create_ref(request: Request) -> Response:
    github = core.github_of(request)
    repo = repo_for(request, "contents", write=True)
    data = await core.json_body(request)
    ref, sha = required_text(data, "ref"), required_text(data, "sha")
    if not ref.startswith("refs/heads/") or len(ref) == len("refs/heads/"):
        raise core.GitHubError(422, f"{ref} is not a valid ref name.")
    branch = ref[len("refs/heads/") :]
    if branch in repo.branches:
        raise core.GitHubError(422, "Reference already exists")
    if sha not in repo.objects.commits:
        raise core.GitHubError(422, "Object does not exist")
    repo.branches[branch] = sha
    return core.reply(github.ref_json(repo, branch), status_code=201)


async def update_ref(request: Request) -> Response:
    """Moves a branch: a fast forward only unless forced, and never over workflow files without
    the workflows permission."""
    github = core.github_of(request)
    repo = repo_for(request, "contents", write=True)
    data = await core.json_body(request)
    sha, force = required_text(data, "sha"), data.get("force", False) is True
    ref = request.path_params["ref"]
    branch = ref[len("heads/") :] if ref.startswith("heads/") else None
    if branch is None or branch not in repo.branches:
        raise core.GitHubError(422, "Reference does not exist")
    if sha not in repo.objects.commits:
        raise core.GitHubError(422, "Object does not exist")
    tip = repo.branches[branch]
    if not force and tip not in repo.objects.ancestors(sha):
        raise core.GitHubError(422, "Update is not a fast forward")
    granted = github.installations[core.installation_auth(request)]["permissions"]
    if granted.get("workflows") != "write":
        changed = diff_files(repo.objects, repo.objects.files(tip), repo.objects.files(sha), set())
        for change in changed:
            for path in (change.path, change.previous_path or ""):
                if path.startswith(WORKFLOWS):
                    raise core.GitHubError(
                        403,
                        "refusing to allow a GitHub App to create or update workflow"
                        f" `{path}` without `workflows` permission",
                    )
    repo.branches[branch] = sha
    return core.reply(github.ref_json(repo, branch))


REPO = "/repos/{owner}/{repo}"
REPO_ROUTES = [
    Route(REPO, get_repo, methods=["GET"]),
    Route(f"{REPO}/pulls", list_pulls, methods=["GET"]),
    Route(f"{REPO}/pulls/{{number:int}}", get_pull, methods=["GET"]),
    Route(f"{REPO}/pulls/{{number:int}}/files", list_pull_files, methods=["GET"]),
    Route(f"{REPO}/pulls/{{number:int}}/commits", list_pull_commits, methods=["GET"]),
    Route(f"{REPO}/pulls/{{number:int}}/reviews", create_review, methods=["POST"]),
    Route(f"{REPO}/pulls/{{number:int}}/reviews", list_reviews, methods=["GET"]),
    Route(
        f"{REPO}/pulls/{{number:int}}/reviews/{{review_id:int}}",
        delete_pending_review,
        methods=["DELETE"],
    ),
    Route(f"{REPO}/pulls/{{number:int}}/comments", list_review_comments, methods=["GET"]),
    Route(f"{REPO}/compare/{{basehead:path}}", compare, methods=["GET"]),
    Route(f"{REPO}/issues/{{number:int}}/comments", create_issue_comment, methods=["POST"]),
    Route(f"{REPO}/issues/{{number:int}}/comments", list_issue_comments, methods=["GET"]),
    Route(f"{REPO}/issues/{{number:int}}/labels", add_labels, methods=["POST"]),
    Route(f"{REPO}/issues/{{number:int}}/labels/{{name}}", remove_label, methods=["DELETE"]),
    Route(f"{REPO}/issues/{{number:int}}/assignees", add_assignees, methods=["POST"]),
    Route(f"{REPO}/pulls/{{number:int}}", update_pull, methods=["PATCH"]),
    Route(f"{REPO}/pulls/{{number:int}}/requested_reviewers", request_reviewers, methods=["POST"]),
    Route(
        f"{REPO}/collaborators/{{username}}/permission", collaborator_permission, methods=["GET"]
    ),
    Route(f"{REPO}/issues/comments/{{comment_id:int}}", get_issue_comment, methods=["GET"]),
    Route(f"{REPO}/issues/comments/{{comment_id:int}}", update_issue_comment, methods=["PATCH"]),
    Route(f"{REPO}/contents", get_contents, methods=["GET"]),
    Route(f"{REPO}/contents/{{path:path}}", get_contents, methods=["GET"]),
    Route(f"{REPO}/branches/{{branch:path}}", get_branch, methods=["GET"]),
    Route(f"{REPO}/commits/{{ref:path}}/check-runs", list_check_runs_for_ref, methods=["GET"]),
    Route(f"{REPO}/commits/{{ref:path}}", get_commit, methods=["GET"]),
    Route(f"{REPO}/check-runs", create_check_run, methods=["POST"]),
    Route(f"{REPO}/check-runs/{{check_run_id:int}}", get_check_run, methods=["GET"]),
    Route(f"{REPO}/check-runs/{{check_run_id:int}}", update_check_run, methods=["PATCH"]),
    Route(f"{REPO}/check-runs/{{check_run_id:int}}/annotations", list_annotations, methods=["GET"]),
    Route(f"{REPO}/actions/runs/{{run_id:int}}/jobs", list_run_jobs, methods=["GET"]),
    Route(f"{REPO}/actions/jobs/{{job_id:int}}", get_job, methods=["GET"]),
    Route(f"{REPO}/actions/jobs/{{job_id:int}}/logs", download_job_logs, methods=["GET"]),
    Route(f"{REPO}/git/ref/{{ref:path}}", get_ref, methods=["GET"]),
    Route(f"{REPO}/git/refs", create_ref, methods=["POST"]),
    Route(f"{REPO}/git/refs/{{ref:path}}", update_ref, methods=["PATCH"]),
    Route(f"{REPO}/git/commits/{{sha}}", get_git_commit, methods=["GET"]),
    Route(f"{REPO}/git/commits", create_git_commit, methods=["POST"]),
    Route(f"{REPO}/git/trees/{{sha:path}}", get_tree, methods=["GET"]),
    Route(f"{REPO}/git/trees", create_tree, methods=["POST"]),
    Route(f"{REPO}/git/blobs", create_blob, methods=["POST"]),
    Route(f"{BLOB_PREFIX}logs/{{token}}", signed_blob, methods=["GET"]),
]


# Last, because tests/fakes/github.py builds FakeGitHub on RepoState: whichever module is
# imported first, this one is complete before github.py needs it.
from tests.fakes import github as core  # noqa: E402

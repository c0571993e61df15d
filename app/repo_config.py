"""Per-repository configuration: `.github/hookwise.yml` on the repository's default branch, over
the repository's override set on /admin (`repositories.config_override`, seed 002's), over the
same file in the owner's `.github` repository (installation defaults), over our settings.

Never the PR's head: a fork's author could otherwise switch reactions on for their own PR, pick
the model and raise the token budget, spending the owner's money (pr-agent reads its
configuration from the default branch for the same reason).

Parsing is pure; reading the files (contents API) is `load()`. A file that cannot be used — not
valid YAML, a wrong value, not UTF-8, a directory, over GitHub's 1 MB contents limit — is not an
exception for the reaction: it yields the defaults plus the reason, which the reaction shows in
our check run.
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from app.clients.errors import Refused
from app.clients.github_port import RepoPort
from app.settings import ReactionSettings

# A repository's port by its owner/name, as the reaction's installation sees it.
OpenPort = Callable[[str], Awaitable[RepoPort]]

PATH = ".github/hookwise.yml"


@dataclass(frozen=True)
class RepoConfig:
    review: bool
    fix: bool
    fix_mode: str
    max_fix_attempts: int
    model: str
    max_tokens: int
    daily_token_budget: int
    ignored_paths: tuple[str, ...] = ()
    # Set when the repository's file could not be used; the defaults apply meanwhile.
    error: str | None = field(default=None, compare=False)

    def ignores(self, path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in self.ignored_paths)


def defaults(settings: ReactionSettings) -> RepoConfig:
    return RepoConfig(
        review=settings.review,
        fix=settings.fix,
        fix_mode=settings.fix_mode,
        max_fix_attempts=settings.max_fix_attempts,
        model=settings.model,
        max_tokens=settings.max_tokens,
        daily_token_budget=settings.daily_token_budget,
    )


# key in the file -> (field, check of the value, what the check wants)
FIELDS: dict[str, tuple[str, Any, str]] = {
    "review": ("review", lambda v: isinstance(v, bool), "true or false"),
    "fix": ("fix", lambda v: isinstance(v, bool), "true or false"),
    "fix_mode": ("fix_mode", lambda v: v in ("suggest", "commit"), "suggest or commit"),
    "max_fix_attempts": ("max_fix_attempts", lambda v: _count(v, 0, 20), "a number 0-20"),
    "model": ("model", lambda v: _text(v) and 0 < len(v) < 100, "a model name"),
    "max_tokens": ("max_tokens", lambda v: _count(v, 256, 64_000), "a number 256-64000"),
    "daily_token_budget": ("daily_token_budget", lambda v: _count(v, 0, 10**9), "a number"),
    "ignored_paths": (
        "ignored_paths",
        lambda v: isinstance(v, list) and all(_text(p) for p in v),
        "a list of path patterns",
    ),
}


def _text(value: Any) -> bool:
    # U+0000 (YAML's "\\0") would be stored in the override's jsonb, which cannot hold it.
    return isinstance(value, str) and "\x00" not in value


def _count(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def parse(text: str, base: RepoConfig) -> RepoConfig:
    """The file's settings over `base`; on any mistake, `base` with the mistake in `error`."""
    data, error = settings_of(text, PATH)
    if error is not None:
        return replace(base, error=error)
    return apply(data or {}, base)


def settings_of(
    text: str, what: str, *, workflows: bool = True
) -> tuple[dict[str, Any] | None, str | None]:
    """hookwise.yml's settings in `text` as a mapping (None: empty), or the mistake, naming
    `what` (the file, or the override). `workflows`: whether `workflows:` may be there (a
    file's, read by app/workflows/spec.py; the override has none)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return None, f"{what} is not valid YAML{where}"
    except RecursionError:
        # PyYAML composes by recursion: a few hundred `[` deep exhaust Python's stack.
        return None, f"{what} is nested too deeply"
    if data is None:
        return None, None
    if not isinstance(data, dict):
        return None, f"{what} must be a mapping of settings"
    for key, value in data.items():
        if key == "workflows" and workflows:
            continue  # app/workflows/spec.py reads them, with their lines
        if key == "workflows":
            return None, f"{what}: workflows are declared in {PATH}, not here"
        if key not in FIELDS:
            return None, f"{what}: unknown setting {key!r}"
        _, valid, wanted = FIELDS[key]
        if not valid(value):
            return None, f"{what}: {key} must be {wanted}"
    return data, None


def apply(data: dict[str, Any], base: RepoConfig) -> RepoConfig:
    """Valid settings (as settings_of returns them) over `base`. An override stored before a
    setting's rules changed is checked again: one no longer valid is left out."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FIELDS or not FIELDS[key][1](value):
            continue
        name = FIELDS[key][0]
        changes[name] = tuple(value) if name == "ignored_paths" else value
    return replace(base, **changes)


class Configs:
    """Reads the configuration files when a reaction asks. Not cached: the default branch moves,
    and a reaction reads them at most once per run."""

    async def load(
        self,
        github: OpenPort,
        settings: ReactionSettings,
        *,
        repo: str,
        override: dict[str, Any] | None = None,
    ) -> RepoConfig:
        return await fetch(github, settings, repo=repo, override=override)


async def fetch(
    github: OpenPort,
    settings: ReactionSettings,
    *,
    repo: str,
    override: dict[str, Any] | None = None,
) -> RepoConfig:
    """Settings, then the installation's defaults (the owner's `.github` repository, as GitHub
    does for community files), then `override` (the repository's config_override), then the
    repository's own file; both files as they are on the default branch (the contents API
    without `ref`). `github` opens a repository's port by its owner/name."""
    owner = repo.split("/", 1)[0]
    config = defaults(settings)
    if repo.lower() != f"{owner}/.github".lower():
        config = await _layer(await github(f"{owner}/.github"), config, "the owner's")
    if override:
        config = apply(override, config)
    return await _layer(await github(repo), config, "")


def _named(whose: str, problem: str) -> str:
    return f"{whose} {PATH} {problem}".strip()


async def _layer(github: RepoPort, base: RepoConfig, whose: str) -> RepoConfig:
    """`base` with one file's settings over it; a missing file changes nothing, a file that
    cannot be read leaves `base` with the reason."""
    text, problem = await read_file(github, PATH)
    if problem is not None:
        return replace(base, error=_named(whose, problem))
    if text is None:
        return base
    layered = parse(text, base)
    if layered.error and whose:
        return replace(layered, error=f"{whose} {layered.error}")
    return layered


async def read_file(
    github: RepoPort, path: str, ref: str | None = None
) -> tuple[str | None, str | None]:
    """The file at `path` at `ref` (default: the default branch) as text, or why it cannot be
    read; (None, None)
    when there is no such file. GitHub's contents API: a file over 1 MB is 403 `too_large`, a
    directory answers a list, 1-100 MB files come with encoding `none`. Raises the error tree's
    other errors (app/clients/errors.py)."""
    try:
        answer = await github.contents(path, ref)
    except Refused as exc:
        return _refused(exc)
    return _decoded(answer)


def _refused(exc: Refused) -> tuple[str | None, str | None]:
    if exc.status == 404:
        return None, None
    said = str(exc).lower()
    if exc.status == 403 and ("too_large" in said or "too large" in said):
        return None, "is over GitHub's 1 MB contents limit"
    raise exc


def _decoded(answer: Any) -> tuple[str | None, str | None]:
    if not isinstance(answer, Mapping) or answer.get("type", "file") != "file":
        return None, "is not a file"
    if answer.get("encoding") != "base64":
        return None, "is over GitHub's 1 MB contents limit"
    try:
        return base64.b64decode(answer.get("content", "")).decode("utf-8"), None
    except (ValueError, UnicodeDecodeError):
        return None, "is not UTF-8 text"

"""Per-repository configuration: `.github/hookwise.yml` at the PR's head, over the same file in
the owner's `.github` repository (installation defaults), over our settings.

Parsing is pure; reading the file (contents API, cached per commit) is `load()`. A malformed
file is not an exception for the handler: it yields the defaults plus the error, which the
handler shows in our check run.
"""

from __future__ import annotations

import base64
import fnmatch
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from gidgethub import BadRequest

from app.clients.github import GitHubAPI
from app.settings import Settings

PATH = ".github/hookwise.yml"
CACHE_SIZE = 512


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


def defaults(settings: Settings) -> RepoConfig:
    return RepoConfig(
        review=settings.review_enabled,
        fix=settings.fix_enabled,
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
    "model": ("model", lambda v: isinstance(v, str) and 0 < len(v) < 100, "a model name"),
    "max_tokens": ("max_tokens", lambda v: _count(v, 256, 64_000), "a number 256-64000"),
    "daily_token_budget": ("daily_token_budget", lambda v: _count(v, 0, 10**9), "a number"),
    "ignored_paths": (
        "ignored_paths",
        lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
        "a list of path patterns",
    ),
}


def _count(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def parse(text: str, base: RepoConfig) -> RepoConfig:
    """The file's settings over `base`; on any mistake, `base` with the mistake in `error`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return replace(base, error=f"{PATH} is not valid YAML{where}")
    if data is None:
        return base
    if not isinstance(data, dict):
        return replace(base, error=f"{PATH} must be a mapping of settings")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in FIELDS:
            return replace(base, error=f"{PATH}: unknown setting {key!r}")
        name, valid, wanted = FIELDS[key]
        if not valid(value):
            return replace(base, error=f"{PATH}: {key} must be {wanted}")
        changes[name] = tuple(value) if name == "ignored_paths" else value
    return replace(base, **changes)


class ConfigCache:
    """The parsed file per (repository, commit): a commit's file never changes."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._entries: OrderedDict[tuple[str, str], RepoConfig] = OrderedDict()
        self._size = size

    async def load(self, api: GitHubAPI, settings: Settings, *, repo: str, sha: str) -> RepoConfig:
        key = (repo, sha)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        config = await fetch(api, settings, repo=repo, sha=sha)
        self._entries[key] = config
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return config


async def fetch(api: GitHubAPI, settings: Settings, *, repo: str, sha: str) -> RepoConfig:
    """Settings, then the installation's defaults (the owner's `.github` repository, as GitHub
    does for community files), then the repository's own file at `sha`."""
    owner = repo.split("/", 1)[0]
    config = defaults(settings)
    if repo.lower() != f"{owner}/.github".lower():
        config = await _layer(api, f"/repos/{owner}/.github/contents/{PATH}", config, "the owner's")
    return await _layer(api, f"/repos/{repo}/contents/{PATH}?ref={sha}", config, "")


async def _layer(api: GitHubAPI, url: str, base: RepoConfig, whose: str) -> RepoConfig:
    """`base` with one file's settings over it; a missing file changes nothing."""
    try:
        answer = await api.getitem(url)
    except BadRequest as exc:
        if exc.status_code == 404:
            return base
        raise
    try:
        text = base64.b64decode(answer.get("content", "")).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return replace(base, error=f"{whose} {PATH} is not UTF-8 text".strip())
    layered = parse(text, base)
    if layered.error and whose:
        return replace(layered, error=f"{whose} {layered.error}")
    return layered

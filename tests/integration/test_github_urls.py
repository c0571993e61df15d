"""Names from the outside world in GitHub URLs (issue 16, item 11): a check named `lint & test`,
a branch `fix/#12`, a file `src/C#/P.cs` or `{{cookiecutter.x}}/a.py` reach GitHub as they are."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest
from gidgethub.sansio import format_url
from hypothesis import example, given
from hypothesis import strategies as st

from app.clients.github import GitHubApp
from app.clients.github_port import RepoPort, port
from app.clients.urls import part, query, repo_url
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub

REPO = "octo-org/widgets"
BASE = "https://api.github.com"
# Any text a name can hold: GitHub's names are UTF-8, so no lone surrogates.
NAMES = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
ENCODED = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*")


@given(NAMES)
@example(".")
@example("..")
def test_a_part_is_one_segment_whatever_it_holds(name: str) -> None:
    encoded = part(name)
    assert ENCODED.fullmatch(encoded)
    assert unquote(encoded) == name
    # gidgethub expands every URL as a URI template; an encoded part is no template.
    url = format_url(f"/repos/o/r/check-runs/{encoded}", None, base_url=BASE)
    assert httpx.URL(url).path == f"/repos/o/r/check-runs/{name}"


# A file path's segments as git allows them: not empty, no `/`, never `.` or `..`.
SEGMENTS = NAMES.filter(lambda name: name not in ("", ".", "..") and "/" not in name)


@given(st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join))
def test_a_path_keeps_its_slashes_and_nothing_else(path: str) -> None:
    encoded = part(path, slashes=True)
    assert all(ENCODED.fullmatch(segment) for segment in encoded.split("/"))
    url = format_url(f"/repos/o/r/contents/{encoded}", None, base_url=BASE)
    assert httpx.URL(url).path == f"/repos/o/r/contents/{path}"


@given(st.dictionaries(NAMES.filter(bool), NAMES, max_size=4))
def test_a_query_says_each_name_and_value_as_given(params: dict[str, str]) -> None:
    url = httpx.URL(format_url(f"/x{query(params)}", None, base_url=BASE))
    assert dict(url.params) == params


def test_a_repository_is_two_segments() -> None:
    assert repo_url("octo-org/widgets.js") == "/repos/octo-org/widgets.js"


@pytest.fixture
async def widgets(settings, fake_github: FakeGitHub) -> AsyncIterator[RepoPort]:
    fake_github.add_repo(REPO, installation_id=INSTALLATION_ID, files={"README.md": "hi\n"})
    async with httpx.AsyncClient(timeout=5.0) as http:
        github = GitHubApp(
            with_github(settings, fake_github, HOOKWISE_GITHUB_WRITE_INTERVAL=0.0).github, http
        )
        yield port(await github.installation_api(INSTALLATION_ID), REPO)


@pytest.mark.parametrize(
    "path", ["src/C#/P.cs", "{{cookiecutter.x}}/a.py", "docs/a b?c=1&d%20.md", "naïve/ü.txt"]
)
async def test_a_file_is_read_whatever_its_path(widgets: RepoPort, fake_github, path) -> None:
    sha = fake_github.commit_files(REPO, "main", {path: "text\n"})
    found = await widgets.contents(path, sha)
    assert found["path"] == path


async def test_a_branch_with_a_hash_moves_and_is_read(widgets: RepoPort, fake_github) -> None:
    branch = "fix/#12"
    tip = fake_github.commit_files(REPO, branch, {"a.py": "1\n"})
    fake_github.repo(REPO).branches["scratch"] = tip
    moved = fake_github.commit_files(REPO, "scratch", {"b.py": "2\n"})  # a child of the tip
    assert (await widgets.tip(branch))["sha"] == fake_github.tip(REPO, branch)
    await widgets.move_branch(branch, moved)
    assert fake_github.tip(REPO, branch) == moved


async def test_check_runs_by_a_name_with_an_ampersand_on_a_branch_with_a_hash(
    widgets: RepoPort, fake_github
) -> None:
    sha = fake_github.commit_files(REPO, "release/#1", {"a.py": "1\n"})
    fake_github.add_check_run(REPO, sha, name="lint & test")
    fake_github.add_check_run(REPO, sha, name="lint")
    found = await widgets.check_runs_for("release/#1", "lint & test", filter="latest")
    assert [run["name"] for run in found] == ["lint & test"]

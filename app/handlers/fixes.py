"""A failing check analysed, and a fix suggested back on the pull request.

On check_run completed with failure or timed_out: gather the evidence (the GitHub Actions job's
log, else the check run's output and annotations), cut an excerpt that keeps the failing lines,
and ask the model for a structured analysis. A failure that also happens on the base branch is
not the PR's fault and gets no fix. A confident, fixable analysis becomes one review whose
comments carry ```suggestion blocks on lines inside the diff. Our own check run on the head
commit shows the analysis. Every post goes through outbound_actions.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import httpx
from gidgethub import BadRequest

from app import github_limits as limits
from app.analysis.diff import commentable_lines
from app.analysis.edits import EditError, apply, by_path, protected
from app.analysis.excerpt import cut, failure_signature
from app.answers import ask_once
from app.clients.anthropic import Tool, UnusableAnswer
from app.clients.github import GitHubAPI, GitHubApp, is_own_event
from app.handlers.reviews import MARKER, clip
from app.outbound import Action, perform
from app.repo_config import RepoConfig
from app.router import HandlerContext, Router
from app.store import analyses, reviews
from app.store.analyses import Analysis, FixAttempt

router = Router()

FAILED = frozenset({"failure", "timed_out"})
CONFIDENT = 0.6
EVIDENCE_TOKENS = 6_000
# Git's modes for a regular and an executable file: the only ones a fix may change.
FILE_MODES = frozenset({"100644", "100755"})
RUN_ID = re.compile(r"/actions/runs/(\d+)")
# The buttons on our check run (GitHub's limits: app/github_limits.py).
APPLY_FIX = {
    "label": "Apply fix",
    "description": "Commit the proposed fix",
    "identifier": "apply_fix",
}
REANALYSE = {
    "label": "Re-analyse",
    "description": "Analyse the failure again",
    "identifier": "reanalyse",
}

SYSTEM = (
    "You analyse failing CI checks of pull requests. From the log excerpt, say what failed and "
    "why, how sure you are, and what to do. Propose edits only when you are confident they fix "
    "the failure; line numbers are those of the file at the pull request's head."
)

ANALYSIS_TOOL = Tool(
    name="report_analysis",
    description="Report the analysis of the failing check.",
    input_schema={
        "type": "object",
        "required": [
            "category",
            "confidence",
            "root_cause",
            "recommended_action",
            "fixable",
            "edits",
        ],
        "properties": {
            "category": {
                "type": "string",
                "enum": [
                    "test",
                    "lint",
                    "type",
                    "build",
                    "dependency",
                    "infrastructure",
                    "flaky",
                    "other",
                ],
            },
            "confidence": {"type": "number"},
            "root_cause": {"type": "string"},
            "recommended_action": {"type": "string"},
            "fixable": {"type": "boolean"},
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "start_line", "end_line", "replacement"],
                    "properties": {
                        "path": {"type": "string"},
                        "start_line": {"type": "integer"},
                        "end_line": {"type": "integer"},
                        "replacement": {"type": "string"},
                    },
                },
            },
        },
    },
)


@router.register("github", "check_run", "completed")
async def analyse_failed_check(event: HandlerContext) -> None:
    app, payload = event.app, event.payload
    run = payload["check_run"]
    if run.get("conclusion") not in FAILED or "installation" not in payload:
        return
    if app.github is None or app.model is None or is_own_event(payload, app.github.identity):
        return
    stored = await analyses.check_run(event.conn, run["id"])
    if stored is None or stored["pull_request_id"] is None:
        return  # a commit without a pull request: nothing to suggest a fix on
    if await analyses.already_analysed(event.conn, stored["id"]):
        return  # redelivered or replayed
    repo = payload["repository"]["full_name"]
    api = await app.github.installation_api(payload["installation"]["id"])
    config = await app.configs.load(api, app.settings, repo=repo, sha=run["head_sha"])
    report = Report(event, api, repo, run)
    if config.error:
        await report.show("hookwise.yml has a problem", config.error)
    if not config.fix:
        return
    await Analyst(event, app.github, api, repo, run, stored, config, report).respond()


@router.register("github", "check_run", "requested_action")
@router.register("github", "check_run", "rerequested")
async def act_on_our_check_run(event: HandlerContext) -> None:
    """The buttons on our check run: Apply fix commits the analysis's edits; Re-analyse (and
    GitHub's Re-run) asks again."""
    app, payload = event.app, event.payload
    ours = payload["check_run"]
    if app.github is None or app.model is None or "installation" not in payload:
        return
    identity = app.github.identity or await app.github.load_identity()
    if (ours.get("app") or {}).get("id") != identity.app_id or not ours.get("external_id"):
        return
    stored = await analyses.check_run(event.conn, int(ours["external_id"]))
    if stored is None or stored["pull_request_id"] is None:
        return
    repo = payload["repository"]["full_name"]
    api = await app.github.installation_api(payload["installation"]["id"])
    failing = await api.getitem(f"/repos/{repo}/check-runs/{ours['external_id']}")
    config = await app.configs.load(api, app.settings, repo=repo, sha=failing["head_sha"])
    report = Report(event, api, repo, failing)
    analyst = Analyst(event, app.github, api, repo, failing, stored, config, report)
    wanted = (payload.get("requested_action") or {}).get("identifier", "reanalyse")
    if wanted != APPLY_FIX["identifier"]:
        await analyst.respond(again=True)
        return
    latest = await analyses.latest(event.conn, stored["id"])
    if latest is None or not latest["patch"]:
        await report.show("Nothing to apply", "There is no proposed fix for this failure yet.")
        return
    if stored["is_fork"]:
        await report.show("Not applied", "The branch is on a fork; hookwise never pushes there.")
        return
    outcome = await analyst.commit(latest["id"], latest["patch"])
    await report.show(f"{failing['name']}: fix requested", outcome)


class Report:
    """Our check run beside the failing one, rewritten as the analysis goes."""

    def __init__(
        self, event: HandlerContext, api: GitHubAPI, repo: str, run: Mapping[str, Any]
    ) -> None:
        self.event, self.api, self.repo, self.run = event, api, repo, run

    async def show(self, title: str, summary: str, *, can_apply: bool = False) -> None:
        name = limits.cut(f"hookwise: {self.run['name']}", limits.CHECK_NAME, "…")
        output = limits.check_output(title, summary)
        actions = limits.check_actions([REANALYSE] + ([APPLY_FIX] if can_apply else []))
        create_request = {
            "name": name,
            "head_sha": self.run["head_sha"],
            "status": "completed",
            "conclusion": "neutral",
            # Which check run this one speaks about, for its buttons.
            "external_id": str(self.run["id"]),
            "output": output,
            "actions": actions,
        }
        key = f"{self.repo}@{self.run['head_sha']}:{self.run['name']}"

        async def create() -> str:
            made = await self.api.post(f"/repos/{self.repo}/check-runs", data=create_request)
            return str(made["id"])

        async def update(check_run_id: str) -> None:
            await self.api.patch(
                f"/repos/{self.repo}/check-runs/{check_run_id}",
                data={"output": output, "actions": actions},
            )

        async def find() -> str | None:
            found = await self.api.getitem(
                f"/repos/{self.repo}/commits/{self.run['head_sha']}/check-runs"
                "{?check_name,filter,per_page}",
                {"check_name": name, "filter": "all", "per_page": 100},
            )
            for made in found.get("check_runs") or ():
                if made.get("external_id") == create_request["external_id"]:
                    return str(made["id"])
            return None

        await perform(
            self.event.app.pool,
            Action("github.check_run", key, target=self.repo),
            event_id=self.event.event.id,
            request=create_request,
            create=create,
            update=update,
            find=find,
        )


class Analyst:
    def __init__(
        self,
        event: HandlerContext,
        github: GitHubApp,
        api: GitHubAPI,
        repo: str,
        run: Mapping[str, Any],
        stored: Mapping[str, Any],
        config: RepoConfig,
        report: Report,
    ) -> None:
        self.event, self.github, self.api, self.repo = event, github, api, repo
        self.run, self.stored, self.config, self.report = run, stored, config, report
        self.base = Analysis(
            check_run_id=stored["id"],
            pull_request_id=stored["pull_request_id"],
            failure_signature=None,
        )

    async def skip(self, why: str, **changes: Any) -> None:
        await analyses.record(
            self.event.conn, replace(self.base, status="skipped", error=why, **changes)
        )
        await self.report.show("No fix proposed", why)

    async def respond(self, *, again: bool = False) -> None:
        """Analyse and react; `again` (Re-analyse) asks the model even for a known failure."""
        conn, config = self.event.conn, self.config
        if (
            await analyses.fix_attempts(conn, self.stored["pull_request_id"])
            >= config.max_fix_attempts
        ):
            await self.skip(f"The cap of {config.max_fix_attempts} fix attempts is reached.")
            return
        if (
            await reviews.tokens_today(conn, self.stored["repository_id"])
            >= config.daily_token_budget
        ):
            await self.skip(
                "The repository's daily token budget is spent; analysis resumes tomorrow."
            )
            return
        evidence = await self.evidence()
        # A log of several MB takes the cutter most of a second: keep it off the event loop.
        excerpt = await asyncio.to_thread(cut, evidence, budget_tokens=EVIDENCE_TOKENS)
        signature = failure_signature(excerpt.text)
        self.base = replace(self.base, failure_signature=signature)
        earlier = await analyses.same_failure(
            conn, self.stored["pull_request_id"], signature, self.run["head_sha"], self.stored["id"]
        )
        if earlier is not None and not again:
            await self.skip(f"The same failure was analysed already (analysis {earlier}).")
            return
        if await self.fails_on_base():
            await self.skip(
                f"{self.run['name']} fails on {self.stored['base_ref']} too: the failure is "
                "pre-existing or flaky, not this pull request's.",
                is_preexisting=True,
                category="pre-existing",
            )
            return
        await self.analyse(excerpt.text)

    async def analyse(self, excerpt: str) -> None:
        app = self.event.app
        assert app.model is not None
        prompt = (
            f"Check: {self.run['name']}\nPull request #{self.stored['number']} "
            f"({self.stored['head_ref']} into {self.stored['base_ref']})\n\n"
            f"Log excerpt:\n```\n{excerpt}\n```"
        )
        try:
            answer = await ask_once(
                self.event,
                f"analysis:{self.run['id']}",
                partial(
                    app.model.ask,
                    model=self.config.model,
                    max_tokens=self.config.max_tokens,
                    system=SYSTEM,
                    prompt=prompt,
                    tool=ANALYSIS_TOOL,
                ),
            )
        except UnusableAnswer as exc:
            await analyses.record(
                self.event.conn,
                replace(
                    self.base,
                    status="failed",
                    error=f"unusable model answer: {exc}",
                    input_tokens=exc.input_tokens,
                    output_tokens=exc.output_tokens,
                    cost_usd=app.model.cost(exc.input_tokens, exc.output_tokens),
                ),
            )
            await self.report.show("Analysis failed", "The model's answer could not be used.")
            return
        found = answer.input
        confidence = min(max(float(found["confidence"]), 0.0), 1.0)
        analysis_id = await analyses.record(
            self.event.conn,
            replace(
                self.base,
                category=found["category"],
                confidence=confidence,
                root_cause=found["root_cause"],
                recommended_action=found["recommended_action"],
                patch=found["edits"],
                is_preexisting=False,
                model=answer.model,
                input_tokens=answer.input_tokens,
                output_tokens=answer.output_tokens,
                cost_usd=answer.cost_usd,
            ),
        )
        summary = (
            f"**{found['category']}** (confidence {confidence:.0%})\n\n"
            f"**Root cause:** {found['root_cause']}\n\n"
            f"**What to do:** {found['recommended_action']}"
        )
        fixable = found["fixable"] and confidence >= CONFIDENT and bool(found["edits"])
        if fixable:
            summary += "\n\n" + await self.fix(analysis_id, found["edits"], summary)
        await self.report.show(
            f"{self.run['name']}: {found['category']} failure",
            summary,
            can_apply=fixable and self.config.fix_mode == "suggest" and not self.stored["is_fork"],
        )

    async def fix(self, analysis_id: int, edits: list[dict[str, Any]], summary: str) -> str:
        if self.config.fix_mode != "commit":
            return await self.suggest(analysis_id, edits, summary)
        if self.stored["is_fork"]:
            # We never push to forks: the branch is not ours, and the token cannot.
            note = await self.suggest(analysis_id, edits, summary)
            return f"The branch is on a fork, so the fix is suggested, not committed. {note}"
        return await self.commit(analysis_id, edits)

    async def next_attempt(self, analysis_id: int, mode: str) -> FixAttempt:
        """This PR's next fix attempt, skipped until it is done: every try counts to the cap."""
        pull_request_id = self.stored["pull_request_id"]
        return FixAttempt(
            analysis_result_id=analysis_id,
            pull_request_id=pull_request_id,
            check_run_id=self.stored["id"],
            mode=mode,
            status="skipped",
            attempt_number=await analyses.fix_attempts(self.event.conn, pull_request_id) + 1,
        )

    async def commit(self, analysis_id: int, edits: list[dict[str, Any]]) -> str:
        """The edits as one commit on the PR's branch: never forced, never in workflows."""
        conn, stored, run = self.event.conn, self.stored, self.run
        attempt = await self.next_attempt(analysis_id, "commit")
        refused = sorted({e["path"] for e in edits if protected(e["path"])})
        if refused:
            why = f"the fix would change {', '.join(refused)}, which hookwise never touches"
            await analyses.record_fix(conn, replace(attempt, error=why))
            return f"No commit: {why}."
        key = f"{self.repo}#{stored['number']}:check:{run['id']}"
        marker = MARKER.format(kind="fix", key=key)
        message = f"Fix {run['name']} (hookwise)\n\n{marker}"
        branch = stored["head_ref"]

        async def create() -> str:
            return await commit_edits(
                self.api,
                self.repo,
                branch=branch,
                head=run["head_sha"],
                edits=edits,
                message=message,
            )

        async def find() -> str | None:
            tip = await self.api.getitem(f"/repos/{self.repo}/commits/{branch}")
            return str(tip["sha"]) if marker in tip["commit"]["message"] else None

        try:
            sha = await perform(
                self.event.app.pool,
                Action("github.fix_commit", key, target=f"{self.repo}:{branch}"),
                event_id=self.event.event.id,
                request={"branch": branch, "parent": run["head_sha"], "edits": edits},
                create=create,
                find=find,
            )
        except (EditError, BadRequest) as exc:
            await analyses.record_fix(conn, replace(attempt, status="failed", error=str(exc)))
            return f"The fix could not be committed: {exc}"
        await analyses.record_fix(conn, replace(attempt, status="succeeded", commit_sha=sha))
        return f"Committed the fix to {branch} as {sha[:7]}; CI runs again on it."

    async def suggest(self, analysis_id: int, edits: list[dict[str, Any]], summary: str) -> str:
        """One review with a suggestion per edit that falls inside the diff."""
        conn, stored = self.event.conn, self.stored
        number = stored["number"]
        patches = {
            f["filename"]: f.get("patch") or ""
            async for f in self.api.getiter(f"/repos/{self.repo}/pulls/{number}/files?per_page=100")
        }
        comments = suggestions(edits, patches)
        attempt = await self.next_attempt(analysis_id, "suggest")
        if not comments:
            await analyses.record_fix(
                conn, replace(attempt, error="no edit falls on lines of the pull request's diff")
            )
            return "The proposed edits touch lines outside this pull request's diff."
        # The event, not the analysis: a failed attempt rolls its analysis row back, and the
        # next one (a new id) must find the review the first may have posted.
        key = f"{self.repo}#{number}:fix-of-event:{self.event.event.id}"
        request = {
            "commit_id": self.run["head_sha"],
            "body": clip(
                f"hookwise suggests a fix for **{self.run['name']}**.\n\n{summary}\n\n"
                f"{MARKER.format(kind='fix', key=key)}"
            ),
            "event": "COMMENT",
            "comments": comments,
        }

        async def post() -> str:
            made = await self.api.post(f"/repos/{self.repo}/pulls/{number}/reviews", data=request)
            return str(made["id"])

        async def find() -> str | None:
            marker = MARKER.format(kind="fix", key=key)
            async for earlier in self.api.getiter(f"/repos/{self.repo}/pulls/{number}/reviews"):
                if marker in (earlier.get("body") or ""):
                    return str(earlier["id"])
            return None

        review_id = await perform(
            self.event.app.pool,
            Action("github.fix_review", key, target=f"{self.repo}#{number}"),
            event_id=self.event.event.id,
            request=request,
            create=post,
            find=find,
        )
        await analyses.record_fix(
            conn, replace(attempt, status="succeeded", review_id=int(review_id))
        )
        return f"Suggested {len(comments)} change{'s' if len(comments) != 1 else ''} in a review."

    async def evidence(self) -> str:
        """The job's log for GitHub Actions; else the check run's output and annotations."""
        run, repo = self.run, self.repo
        if (run.get("app") or {}).get("slug") == "github-actions":
            log = await self.actions_log()
            if log is not None:
                return log
        output = run.get("output") or {}
        parts = [output.get(k) or "" for k in ("title", "summary", "text")]
        async for note in self.api.getiter(f"/repos/{repo}/check-runs/{run['id']}/annotations"):
            parts.append(
                f"{note.get('path')}:{note.get('start_line')}: "
                f"{note.get('annotation_level')}: {note.get('message')}"
            )
        return "\n".join(p for p in parts if p)

    async def actions_log(self) -> str | None:
        found = RUN_ID.search(self.run.get("details_url") or "")
        if found is None:
            return None
        jobs = f"/repos/{self.repo}/actions/runs/{found[1]}/jobs"
        installation = self.event.payload["installation"]["id"]
        async for job in self.api.getiter(jobs, iterable_key="jobs"):
            if str(job.get("check_run_url", "")).endswith(f"/check-runs/{self.run['id']}"):
                try:
                    return await self.github.job_log(installation, self.repo, job["id"])
                except httpx.HTTPStatusError as exc:
                    # Logs expire (404/410), and so do the signed storage links (403); the
                    # check run's output still says something.
                    if exc.response.status_code in (403, 404, 410):
                        return None
                    raise
        return None

    async def fails_on_base(self) -> bool:
        base = self.stored["base_ref"]
        if not base:
            return False
        answer = await self.api.getitem(
            f"/repos/{self.repo}/commits/{base}/check-runs?check_name={self.run['name']}"
        )
        return any(r.get("conclusion") in FAILED for r in answer.get("check_runs") or ())


async def commit_edits(
    api: GitHubAPI, repo: str, *, branch: str, head: str, edits: list[dict[str, Any]], message: str
) -> str:
    """Commit the edited files on top of `head` and move `branch` there, fast-forward only."""
    parent = await api.getitem(f"/repos/{repo}/git/commits/{head}")
    edited = by_path(edits)
    modes = await file_modes(api, repo, parent["tree"]["sha"], edited)
    tree = []
    for path, file_edits in edited.items():
        # Kept as it was: an executable script stays executable. A symlink or a submodule has
        # no lines to edit, and a path that is not there has none either.
        mode = modes.get(path)
        if mode not in FILE_MODES:
            raise EditError(f"{path} is not a file in {head[:7]}")
        current = await api.getitem(f"/repos/{repo}/contents/{path}?ref={head}")
        text = base64.b64decode(current["content"]).decode("utf-8")
        tree.append(
            {"path": path, "mode": mode, "type": "blob", "content": apply(text, file_edits)}
        )
    made_tree = await api.post(
        f"/repos/{repo}/git/trees", data={"base_tree": parent["tree"]["sha"], "tree": tree}
    )
    made = await api.post(
        f"/repos/{repo}/git/commits",
        data={"message": message, "tree": made_tree["sha"], "parents": [head]},
    )
    # force False: if someone pushed meanwhile, GitHub refuses and their work stays.
    await api.patch(
        f"/repos/{repo}/git/refs/heads/{branch}", data={"sha": made["sha"], "force": False}
    )
    return str(made["sha"])


async def file_modes(api: GitHubAPI, repo: str, root: str, paths: Iterable[str]) -> dict[str, str]:
    """Each path's git mode in the tree `root` (a path not there is left out), reading only the
    trees on its way: a recursive listing of a large repository comes back truncated."""
    listed: dict[str, dict[str, Any]] = {}

    async def entries(tree: str) -> dict[str, Any]:
        if tree not in listed:
            found = await api.getitem(f"/repos/{repo}/git/trees/{tree}")
            listed[tree] = {entry["path"]: entry for entry in found["tree"]}
        return listed[tree]

    modes = {}
    for path in paths:
        *directories, name = path.split("/")
        tree: str | None = root
        for directory in directories:
            entry = (await entries(tree)).get(directory)
            tree = entry["sha"] if entry is not None and entry["type"] == "tree" else None
            if tree is None:
                break
        if tree is not None and (entry := (await entries(tree)).get(name)) is not None:
            modes[path] = entry["mode"]
    return modes


def suggestions(edits: list[dict[str, Any]], patches: Mapping[str, str]) -> list[dict[str, Any]]:
    """Review comments with ```suggestion blocks, for the edits whose lines are all in the diff."""
    comments = []
    for edit in edits:
        start, end = int(edit["start_line"]), int(edit["end_line"])
        if end < start:
            continue
        lines = commentable_lines(patches.get(edit["path"], ""))
        if not all(n in lines for n in range(start, end + 1)):
            continue
        comment: dict[str, Any] = {
            "path": edit["path"],
            "line": end,
            "side": "RIGHT",
            "body": f"```suggestion\n{edit['replacement'].rstrip(chr(10))}\n```",
        }
        if start < end:
            comment |= {"start_line": start, "start_side": "RIGHT"}
        comments.append(comment)
    return comments

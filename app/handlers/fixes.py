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
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx

from app.analysis.diff import commentable_lines
from app.analysis.excerpt import cut, failure_signature
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
RUN_ID = re.compile(r"/actions/runs/(\d+)")

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


class Report:
    """Our check run beside the failing one, rewritten as the analysis goes."""

    def __init__(
        self, event: HandlerContext, api: GitHubAPI, repo: str, run: Mapping[str, Any]
    ) -> None:
        self.event, self.api, self.repo, self.run = event, api, repo, run

    async def show(self, title: str, summary: str) -> None:
        name = f"hookwise: {self.run['name']}"[:100]
        output = {"title": title[:255], "summary": clip(summary)}
        create_request = {
            "name": name,
            "head_sha": self.run["head_sha"],
            "status": "completed",
            "conclusion": "neutral",
            "output": output,
        }
        key = f"{self.repo}@{self.run['head_sha']}:{self.run['name']}"

        async def create() -> str:
            made = await self.api.post(f"/repos/{self.repo}/check-runs", data=create_request)
            return str(made["id"])

        async def update(check_run_id: str) -> None:
            await self.api.patch(
                f"/repos/{self.repo}/check-runs/{check_run_id}", data={"output": output}
            )

        await perform(
            self.event.app.pool,
            Action("github.check_run", key, target=self.repo),
            event_id=self.event.event.id,
            request=create_request,
            create=create,
            update=update,
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

    async def respond(self) -> None:
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
        if earlier is not None:
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
            answer = await app.model.ask(
                model=self.config.model,
                max_tokens=self.config.max_tokens,
                system=SYSTEM,
                prompt=prompt,
                tool=ANALYSIS_TOOL,
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
        if found["fixable"] and confidence >= CONFIDENT and found["edits"]:
            summary += "\n\n" + await self.suggest(analysis_id, found["edits"], summary)
        await self.report.show(f"{self.run['name']}: {found['category']} failure", summary)

    async def suggest(self, analysis_id: int, edits: list[dict[str, Any]], summary: str) -> str:
        """One review with a suggestion per edit that falls inside the diff."""
        conn, stored = self.event.conn, self.stored
        number = stored["number"]
        patches = {
            f["filename"]: f.get("patch") or ""
            async for f in self.api.getiter(f"/repos/{self.repo}/pulls/{number}/files?per_page=100")
        }
        comments = suggestions(edits, patches)
        attempt = FixAttempt(
            analysis_result_id=analysis_id,
            pull_request_id=stored["pull_request_id"],
            check_run_id=stored["id"],
            mode="suggest",
            status="skipped",
            attempt_number=await analyses.fix_attempts(conn, stored["pull_request_id"]) + 1,
        )
        if not comments:
            await analyses.record_fix(
                conn, replace(attempt, error="no edit falls on lines of the pull request's diff")
            )
            return "The proposed edits touch lines outside this pull request's diff."
        key = f"{self.repo}#{number}:check:{self.run['id']}"
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

        review_id = await perform(
            self.event.app.pool,
            Action("github.fix_review", key, target=f"{self.repo}#{number}"),
            event_id=self.event.event.id,
            request=request,
            create=post,
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

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from app import github_limits as limits
from app.analysis.basediff import new_since_base
from app.analysis.diff import commentable_lines
from app.analysis.edits import EditError, apply, by_path, protected
from app.analysis.excerpt import cut, failure_signature
from app.clients.anthropic import Tool, UnusableAnswer
from app.clients.errors import Refused, classify
from app.clients.github_port import RepoPort
from app.outbound import Action, post_once
from app.reactions import placing
from app.reactions.answers import ask_once
from app.reactions.context import ReactionContext
from app.reactions.review import MARKER, MAX_BODY, clip
from app.repo_config import RepoConfig
from app.store import analyses, reviews
from app.store.analyses import Analysis, FixAttempt, StoredCheckRun

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


async def run_analysis(ctx: ReactionContext, *, asked: bool = False) -> str:
    """hookwise.analyse_failure: analyse the failing check the execution names. `asked`: a
    declared workflow's step asks for it, whatever `fix:` says."""
    app, payload = ctx.app, ctx.payload
    run = payload["check_run"]
    assert app.model is not None
    await clean_slate(ctx)
    stored = await analyses.check_run(ctx.conn, run["id"])
    if stored is None or stored.pr_id is None:
        return "no pull request to suggest a fix on"
    github = await ctx.github(payload["repository"]["full_name"])
    config = await ctx.repo_config(github.repo)
    report = Report(ctx, github, run)
    if config.error:
        await report.show("hookwise.yml has a problem", config.error)
    if not config.fix and not asked:
        return "fixes are off for this repository"
    return await Analyst(ctx, github, run, stored, config, report).respond()


async def run_button(ctx: ReactionContext) -> str:
    """hookwise.check_run_action: the buttons on our check run. Apply fix commits the
    analysis's edits; Re-analyse (and GitHub's Re-run) asks again."""
    app, payload = ctx.app, ctx.payload
    ours = payload["check_run"]
    ports = app.github_ports()
    assert ports is not None and app.model is not None
    identity = await ports.identity()
    if (ours.get("app") or {}).get("id") != identity.app_id:
        return "not our check run"
    await clean_slate(ctx)
    stored = await analyses.check_run(ctx.conn, int(ours["external_id"]))
    if stored is None or stored.pr_id is None:
        return "the failing check run is not stored"
    github = await ctx.github(payload["repository"]["full_name"])
    failing = await github.check_run(ours["external_id"])
    config = await ctx.repo_config(github.repo)
    report = Report(ctx, github, failing)
    analyst = Analyst(ctx, github, failing, stored, config, report)
    wanted = (payload.get("requested_action") or {}).get("identifier", "reanalyse")
    if wanted != APPLY_FIX["identifier"]:
        return await analyst.respond(again=True)
    latest = await analyses.latest(ctx.conn, stored.id)
    if latest is None or not latest.patch:
        await report.show("Nothing to apply", "There is no proposed fix for this failure yet.")
        return "nothing to apply"
    if stored.is_fork:
        await report.show("Not applied", "The branch is on a fork; hookwise never pushes there.")
        return "not applied: fork"
    outcome = await analyst.commit(latest.id, latest.patch)
    await report.show(f"{failing['name']}: fix requested", outcome)
    return outcome


async def clean_slate(ctx: ReactionContext) -> None:
    """Forget what an earlier attempt of this execution recorded: it starts again."""
    await analyses.forget_execution(ctx.conn, ctx.execution.id)


async def show_failure(ctx: ReactionContext, reason: str) -> None:
    """A permanent failure, in the summary of our check run beside the failing one."""
    app, payload = ctx.app, ctx.payload
    run = payload["check_run"]
    if app.github_ports() is None:
        return
    github = await ctx.github(payload["repository"]["full_name"])
    if ctx.execution.workflow == "hookwise.check_run_action":
        run = await github.check_run(run["external_id"])
    await Report(ctx, github, run).show("Analysis failed", reason)


class Report:
    """Our check run beside the failing one, rewritten as the analysis goes."""

    def __init__(self, ctx: ReactionContext, github: RepoPort, run: Mapping[str, Any]) -> None:
        self.ctx, self.github, self.repo, self.run = ctx, github, github.repo, run

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
        github = self.github

        async def find() -> str | None:
            for made in await github.check_runs_for(self.run["head_sha"], name):
                if made.get("external_id") == create_request["external_id"]:
                    return str(made["id"])
            return None

        await post_once(
            self.ctx.app.pool,
            Action("github.check_run", key, target=self.repo),
            event_id=self.ctx.event_id,
            request=create_request,
            create=lambda: github.create_check_run(create_request),
            update=lambda made: github.update_check_run(
                made, {"output": output, "actions": actions}
            ),
            find=find,
        )
        await self.ctx.step("check_run", f"our check run shows: {title}")


class Analyst:
    def __init__(
        self,
        ctx: ReactionContext,
        github: RepoPort,
        run: Mapping[str, Any],
        stored: StoredCheckRun,
        config: RepoConfig,
        report: Report,
    ) -> None:
        self.ctx, self.port, self.repo = ctx, github, github.repo
        self.run, self.stored, self.config, self.report = run, stored, config, report
        self.base = Analysis(
            check_run_id=stored.id,
            pull_request_id=stored.pr_id,
            failure_signature=None,
            execution_id=ctx.execution.id,
        )

    async def skip(self, why: str, **changes: Any) -> str:
        await analyses.record(
            self.ctx.conn, replace(self.base, status="skipped", error=why, **changes)
        )
        await self.report.show("No fix proposed", why)
        return f"no fix proposed: {why}"

    async def respond(self, *, again: bool = False) -> str:
        """Analyse and react; `again` (Re-analyse) asks the model even for a known failure."""
        conn, config = self.ctx.conn, self.config
        if await analyses.fix_attempts(conn, self.stored.pr_id) >= config.max_fix_attempts:
            return await self.skip(f"The cap of {config.max_fix_attempts} fix attempts is reached.")
        if await reviews.tokens_today(conn, self.stored.repository_id) >= config.daily_token_budget:
            return await self.skip(
                "The repository's daily token budget is spent; analysis resumes tomorrow."
            )
        evidence = await self.evidence()
        await self.ctx.step("evidence", f"{len(evidence)} characters of evidence")
        # A log of several MB takes the cutter most of a second: keep it off the event loop.
        excerpt = await asyncio.to_thread(cut, evidence, budget_tokens=EVIDENCE_TOKENS)
        signature = failure_signature(excerpt.text)
        self.base = replace(self.base, failure_signature=signature)
        earlier = await analyses.same_failure(
            conn, self.stored.pr_id, signature, self.run["head_sha"], self.stored.id
        )
        if earlier is not None and not again:
            return await self.skip(f"The same failure was analysed already (analysis {earlier}).")
        base_runs = await self.base_runs()
        if any(r.get("conclusion") in FAILED for r in base_runs):
            return await self.skip(
                f"{self.run['name']} fails on {self.stored.base_branch} too: the failure is "
                "pre-existing or flaky, not this pull request's.",
                is_preexisting=True,
                category="pre-existing",
            )
        return await self.analyse(await self.differenced(evidence, excerpt.text, base_runs))

    async def analyse(self, excerpt: str) -> str:
        app = self.ctx.app
        assert app.model is not None
        prompt = (
            f"Check: {self.run['name']}\nPull request #{self.stored.pr_number} "
            f"({self.stored.head_branch} into {self.stored.base_branch})\n\n"
            f"Log excerpt:\n```\n{excerpt}\n```"
        )
        try:
            answer = await ask_once(
                self.ctx,
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
                self.ctx.conn,
                replace(
                    self.base,
                    status="failed",
                    error=f"unusable model answer: {exc}",
                    input_tokens=exc.input_tokens,
                    output_tokens=exc.output_tokens,
                    cost_usd=exc.cost_usd,
                ),
            )
            await self.report.show(
                "Analysis failed", f"The model's answer could not be used: {exc}."
            )
            return f"unusable model answer: {exc}"
        found = answer.input
        confidence = min(max(float(found["confidence"]), 0.0), 1.0)
        analysis_id = await analyses.record(
            self.ctx.conn,
            replace(
                self.base,
                category=found["category"],
                confidence_score=confidence,
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
            can_apply=fixable and self.config.fix_mode == "suggest" and not self.stored.is_fork,
        )
        return f"{found['category']} failure analysed"

    async def fix(self, analysis_id: UUID, edits: list[dict[str, Any]], summary: str) -> str:
        if self.config.fix_mode != "commit":
            return await self.suggest(analysis_id, edits, summary)
        if self.stored.is_fork:
            # We never push to forks: the branch is not ours, and the token cannot.
            note = await self.suggest(analysis_id, edits, summary)
            return f"The branch is on a fork, so the fix is suggested, not committed. {note}"
        return await self.commit(analysis_id, edits)

    async def next_attempt(self, analysis_id: UUID, strategy: str) -> FixAttempt:
        """This PR's next fix attempt, skipped until it is done: every try counts to the cap."""
        pull_request_id = self.stored.pr_id
        return FixAttempt(
            analysis_result_id=analysis_id,
            pull_request_id=pull_request_id,
            check_run_id=self.stored.id,
            fix_strategy=strategy,
            execution_id=self.ctx.execution.id,
            status="skipped",
            attempt_number=await analyses.fix_attempts(self.ctx.conn, pull_request_id) + 1,
            retry_count=max(self.ctx.execution.attempts - 1, 0),
            started_at=datetime.now(UTC),
        )

    async def commit(self, analysis_id: UUID, edits: list[dict[str, Any]]) -> str:
        """The edits as one commit on the PR's branch: never forced, never in workflows."""
        conn, stored, run = self.ctx.conn, self.stored, self.run
        attempt = await self.next_attempt(analysis_id, "commit")
        untouchable = sorted({e["path"] for e in edits if protected(e["path"])})
        if untouchable:
            why = f"the fix would change {', '.join(untouchable)}, which hookwise never touches"
            await analyses.record_fix(conn, replace(attempt, error_message=why))
            return f"No commit: {why}."
        key = f"{self.repo}#{stored.pr_number}:check:{run['id']}"
        marker = MARKER.format(kind="fix", key=key)
        message = f"Fix {run['name']} (hookwise)\n\n{marker}"
        branch = stored.head_branch
        if branch is None:
            why = "the pull request's head branch is not known"
            await analyses.record_fix(conn, replace(attempt, error_message=why))
            return f"No commit: {why}."

        async def find() -> str | None:
            tip = await self.port.tip(branch)
            return str(tip["sha"]) if marker in tip["commit"]["message"] else None

        try:
            sha = await post_once(
                self.ctx.app.pool,
                Action("github.fix_commit", key, target=f"{self.repo}:{branch}"),
                event_id=self.ctx.event_id,
                request={"branch": branch, "parent": run["head_sha"], "edits": edits},
                create=lambda: commit_edits(
                    self.port, branch=branch, head=run["head_sha"], edits=edits, message=message
                ),
                find=find,
            )
        except EditError as exc:
            await analyses.record_fix(
                conn, replace(attempt, status="failed", error_message=str(exc))
            )
            return f"The fix could not be committed: {exc}"
        except Exception as exc:
            # GitHub refused the commit (a push meanwhile: 422): say so, do not retry.
            refused = classify(exc)
            if not isinstance(refused, Refused):
                raise
            await analyses.record_fix(
                conn, replace(attempt, status="failed", error_message=str(refused))
            )
            return f"The fix could not be committed: {refused}"
        await analyses.record_fix(conn, replace(attempt, status="succeeded", commit_sha=sha))
        await self.ctx.step("commit", f"fix committed to {branch} as {sha[:7]}")
        return f"Committed the fix to {branch} as {sha[:7]}; CI runs again on it."

    async def suggest(self, analysis_id: UUID, edits: list[dict[str, Any]], summary: str) -> str:
        """One review with a suggestion per edit that falls inside the diff, anchored and posted
        at the failing run's commit: the edits' line numbers are that commit's, and the PR's
        head may have moved on since."""
        conn, stored = self.ctx.conn, self.stored
        number, commit = stored.pr_number, self.run["head_sha"]
        diff = await self.diff_at(commit)
        patches = {f["filename"]: f.get("patch") or "" for f in diff.files}
        comments = suggestions(edits, patches)
        # Files GitHub left out of a cut listing may well be in the diff: not "outside" it.
        unlisted = [] if diff.whole else sorted({e["path"] for e in edits} - patches.keys())
        past = (
            f"GitHub lists {len(diff.files)} files of this pull request's diff at "
            f"{commit[:7]} and stops there; {', '.join(unlisted[:5])}"
            f"{' …' if len(unlisted) > 5 else ''}, which the edits change, are not among them"
        )
        attempt = await self.next_attempt(analysis_id, "suggest")
        if not comments:
            if unlisted:
                await analyses.record_fix(conn, replace(attempt, error_message=past))
                return f"No suggestion: {past}."
            await analyses.record_fix(
                conn,
                replace(attempt, error_message="no edit falls on lines of the pull request's diff"),
            )
            return "The proposed edits touch lines outside this pull request's diff."
        # The execution, not the analysis: a retried attempt records a new analysis row, and
        # must find the review the first may have posted.
        key = f"{self.repo}#{number}:fix-of-execution:{self.ctx.execution.id}"
        marker = MARKER.format(kind="fix", key=key)

        def body(note: str = "") -> str:
            said = f"hookwise suggests a fix for **{self.run['name']}**.\n\n{summary}"
            # Cut before the marker, which finds the review again.
            text = clip(f"{said}\n\n{note}".rstrip(), MAX_BODY - len(marker) - 2)
            return f"{text}\n\n{marker}"

        request = {"commit_id": commit, "body": body(), "event": "COMMENT", "comments": comments}
        refused: list[Mapping[str, Any]] = []

        async def create() -> str:
            review_id, left_out = await placing.create_review(
                self.port, number, request, body_for=body
            )
            refused.extend(left_out)
            return review_id

        review_id = await post_once(
            self.ctx.app.pool,
            Action("github.fix_review", key, target=f"{self.repo}#{number}"),
            event_id=self.ctx.event_id,
            request=request,
            create=create,
            find=lambda: self.port.find_review(number, marker),
        )
        await analyses.record_fix(
            conn, replace(attempt, status="succeeded", review_id=int(review_id))
        )
        placed = len(comments) - len(refused)
        note = f" ({placing.refused_note(refused)})" if refused else ""
        await self.ctx.step("suggest", f"review {review_id} suggests {placed} changes{note}")
        left_out = f" Left out: {past}." if unlisted else ""
        return f"Suggested {placed} change{'s' if placed != 1 else ''} in a review.{note}{left_out}"

    async def diff_at(self, commit: str) -> Listed:
        """The pull request's files as its diff was at `commit` (compare from the base branch,
        three dots, as GitHub diffs a pull request); its files now without a base branch.

        GitHub lists 300 files of a comparison and 3,000 of a pull request: past 300, the
        pull request's own listing is the diff at `commit` while that is still its head; an
        older commit's diff is only the comparison's 300 (`Listed.whole` False)."""
        number, base = self.stored.pr_number, self.stored.base_branch
        if base:
            compared = await self.port.compare_files(base, commit)
            if not limits.may_be_cut(compared, limits.COMPARE_FILES):
                return Listed(compared, whole=True)
            if (await self.port.pull(number))["head"]["sha"] != commit:
                return Listed(compared, whole=False)
        files = await self.port.pull_files(number)
        return Listed(files, whole=not limits.may_be_cut(files, limits.PULL_FILES))

    async def evidence(self) -> str:
        """The job's log for GitHub Actions; else the check run's output and annotations."""
        run = self.run
        if (run.get("app") or {}).get("slug") == "github-actions":
            log = await self.actions_log()
            if log is not None:
                return log
        output = run.get("output") or {}
        parts = [output.get(k) or "" for k in ("title", "summary", "text")]
        for note in await self.port.annotations(run["id"]):
            parts.append(
                f"{note.get('path')}:{note.get('start_line')}: "
                f"{note.get('annotation_level')}: {note.get('message')}"
            )
        return "\n".join(p for p in parts if p)

    async def actions_log(self, run: Mapping[str, Any] | None = None) -> str | None:
        """The job log behind a GitHub Actions check run (this one unless `run` is given)."""
        run = run or self.run
        found = RUN_ID.search(run.get("details_url") or "")
        if found is None:
            return None
        for job in await self.port.run_jobs(found[1]):
            if str(job.get("check_run_url", "")).endswith(f"/check-runs/{run['id']}"):
                if run["id"] == self.run["id"] and job.get("url"):
                    await analyses.set_logs_url(self.ctx.conn, self.stored.id, f"{job['url']}/logs")
                try:
                    return await self.port.job_log(job["id"])
                except Exception as exc:
                    # Logs expire (404/410), and so do the signed storage links (403); the
                    # check run's output still says something.
                    refused = classify(exc)
                    if isinstance(refused, Refused) and refused.status in (403, 404, 410):
                        await self.ctx.step("evidence", f"no job log: {refused}", level="WARNING")
                        return None
                    raise
        return None

    async def base_runs(self) -> list[Mapping[str, Any]]:
        """The latest runs of this check on the PR's base branch."""
        base = self.stored.base_branch
        if not base:
            return []
        return await self.port.check_runs_for(base, self.run["name"], filter="latest")

    async def differenced(
        self, evidence: str, excerpt: str, base_runs: list[Mapping[str, Any]]
    ) -> str:
        """The excerpt for the model: with the same job's last green log on the base branch,
        cut from the failing log without what both share (app/analysis/basediff.py), so what is
        new in this run comes first; else the plain `excerpt`. The failure signature stays the
        plain excerpt's: it must not depend on the base branch."""
        green = [r for r in base_runs if r.get("conclusion") == "success"]
        if not green or (green[0].get("app") or {}).get("slug") != "github-actions":
            return excerpt
        base_log = await self.actions_log(green[0])
        if not base_log:
            return excerpt
        differenced = await asyncio.to_thread(
            lambda: cut(new_since_base(evidence, base_log), budget_tokens=EVIDENCE_TOKENS).text
        )
        await self.ctx.step(
            "evidence", f"differenced against run {green[0]['id']} on {self.stored.base_branch}"
        )
        return differenced


@dataclass(frozen=True)
class Listed:
    """A diff's files as GitHub listed them (filename, patch …); `whole` False when GitHub may
    have stopped short of them all (app/github_limits.may_be_cut)."""

    files: list[Mapping[str, Any]]
    whole: bool


async def commit_edits(
    github: RepoPort, *, branch: str, head: str, edits: list[dict[str, Any]], message: str
) -> str:
    """Commit the edited files on top of `head` and move `branch` there, fast-forward only."""
    parent = await github.git_commit(head)
    edited = by_path(edits)
    modes = await file_modes(github, parent["tree"]["sha"], edited)
    tree: list[Mapping[str, Any]] = []
    for path, file_edits in edited.items():
        # Kept as it was: an executable script stays executable. A symlink or a submodule has
        # no lines to edit, and a path that is not there has none either.
        mode = modes.get(path)
        if mode not in FILE_MODES:
            raise EditError(f"{path} is not a file in {head[:7]}")
        current = await github.contents(path, head)
        text = base64.b64decode(current["content"]).decode("utf-8")
        tree.append(
            {"path": path, "mode": mode, "type": "blob", "content": apply(text, file_edits)}
        )
    made_tree = await github.create_tree(parent["tree"]["sha"], tree)
    made = await github.create_commit(message, made_tree, [head])
    # force False: if someone pushed meanwhile, GitHub refuses and their work stays.
    await github.move_branch(branch, made)
    return made


async def file_modes(github: RepoPort, root: str, paths: Iterable[str]) -> dict[str, str]:
    """Each path's git mode in the tree `root` (a path not there is left out), reading only the
    trees on its way: a recursive listing of a large repository comes back truncated."""
    listed: dict[str, dict[str, Any]] = {}

    async def entries(tree: str) -> dict[str, Any]:
        if tree not in listed:
            found = await github.git_tree(tree)
            listed[tree] = {entry["path"]: entry for entry in found["tree"]}
        return listed[tree]

    modes = {}
    for path in paths:
        *directories, name = path.split("/")
        tree = root
        for directory in directories:
            entry = (await entries(tree)).get(directory)
            if entry is None or entry["type"] != "tree":
                break
            tree = entry["sha"]
        else:
            if (entry := (await entries(tree)).get(name)) is not None:
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

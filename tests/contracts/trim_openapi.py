"""Trim GitHub's OpenAPI description to the operations hookwise and its fakes use.

    npm pack @octokit/openapi@23.0.2
    tar xzf octokit-openapi-23.0.2.tgz
    python tests/contracts/trim_openapi.py package/generated/api.github.com.json

Writes tests/contracts/github-openapi.json: the OPERATIONS below with their parameters, request
bodies and responses, and every component they reference, nothing else. On the way, OpenAPI
3.0's `nullable: true` becomes JSON Schema's `null` type, and descriptions and examples are
dropped, so each schema in the copy is plain JSON Schema (draft 7) that `jsonschema` validates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
OUT = Path(__file__).with_name("github-openapi.json")

# (method, path) as GitHub's description names them.
OPERATIONS = [
    ("get", "/app"),
    ("get", "/app/installations"),
    ("get", "/app/installations/{installation_id}"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("patch", "/app/hook/config"),
    ("get", "/app/hook/deliveries"),
    ("get", "/app/hook/deliveries/{delivery_id}"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("post", "/app-manifests/{code}/conversions"),
    ("get", "/installation/repositories"),
    ("get", "/rate_limit"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("delete", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/comments"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"),
    ("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}"),
    ("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("post", "/repos/{owner}/{repo}/git/trees"),
    ("post", "/repos/{owner}/{repo}/git/blobs"),
    # Declared workflows' steps (issue 20).
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
]

# Keywords whose value maps names to schemas, where any name may appear.
NAMED = {"properties", "patternProperties", "content", "responses", "headers"}
DROPPED = {"description", "example", "examples", "externalDocs", "x-github", "x-octokit"}


def errata(paths: dict[str, dict[str, Any]]) -> None:
    """Mend what GitHub's description gets wrong, each with the evidence."""
    # GET /app/installations inlines the installation with `account: allOf [simple-user,
    # enterprise]`, which no account satisfies; GET /app/installations/{id} and the
    # `installation` component say anyOf, and GitHub sends a user or an organization there.
    listed = paths["/app/installations"]["get"]["responses"]["200"]["content"]
    listed["application/json"]["schema"]["items"] = {"$ref": "#/components/schemas/installation"}


def plain(node: Any) -> Any:
    """The node without prose and examples, with `nullable` as JSON Schema says it."""
    if isinstance(node, list):
        return [plain(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: names(value) if key in NAMED else plain(value)
        for key, value in node.items()
        if key not in DROPPED
    }
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str) and "enum" not in out:
            out["type"] = [kind, "null"]
        else:
            # A $ref, an allOf or an enum: its siblings would not admit null.
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def names(node: Any) -> Any:
    """A map from names (properties...) to schemas: a property may be called `description`."""
    if not isinstance(node, dict):
        return plain(node)
    return {name: plain(value) for name, value in node.items()}


def refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
    return found.union(*(refs(value) for value in node.values()))


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def trim(document: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        operation = document["paths"][path][method]
        kept = {
            key: operation[key]
            for key in ("operationId", "summary", "parameters", "requestBody", "responses")
            if key in operation
        }
        paths.setdefault(path, {})[method] = plain(kept)
    errata(paths)
    components: dict[str, dict[str, Any]] = {}
    pending = refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = plain(resolve(document, ref))
        components.setdefault(kind, {})[name] = node
        pending |= refs(node) - seen
    return {
        "openapi": document["openapi"],
        "info": {
            "title": document["info"]["title"],
            "version": document["info"]["version"],
            "x-package": f"{PACKAGE}@{VERSION}",
            "x-trimmed-by": "tests/contracts/trim_openapi.py",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            kind: dict(sorted(items.items())) for kind, items in sorted(components.items())
        },
    }


def main(source: str) -> None:
    document = json.loads(Path(source).read_text())
    OUT.write_text(json.dumps(trim(document), indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

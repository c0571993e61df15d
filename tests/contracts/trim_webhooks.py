"""Trim GitHub's webhook schemas to the events and actions hookwise routes.

    npm pack @octokit/webhooks-schemas@7.6.1
    tar xzf octokit-webhooks-schemas-7.6.1.tgz
    python tests/contracts/trim_webhooks.py package/schema.json

Writes tests/contracts/github-webhooks.json: a JSON Schema (draft-07) whose `definitions` hold
each routed event and action (ROUTED; named `event$action`, as the package names them) and what
they reference; descriptions dropped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/webhooks-schemas"
VERSION = "7.6.1"
OUT = Path(__file__).with_name("github-webhooks.json")

# What app/handlers registers for GitHub (app/router.py keys): event -> actions, None for every
# action the package describes.
ROUTED: dict[str, list[str] | None] = {
    "check_run": None,
    "installation": ["created", "deleted", "new_permissions_accepted", "suspend", "unsuspend"],
    "installation_repositories": ["added", "removed"],
    "pull_request": None,
    "repository": [
        "archived",
        "created",
        "deleted",
        "edited",
        "privatized",
        "publicized",
        "renamed",
        "transferred",
        "unarchived",
    ],
}
NAMED = {"properties", "patternProperties", "definitions"}


def plain(node: Any) -> Any:
    if isinstance(node, list):
        return [plain(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: ({k: plain(v) for k, v in value.items()} if key in NAMED else plain(value))
        for key, value in node.items()
        if key not in ("description", "$comment", "examples", "tsAdditionalProperties")
    }


def refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
    return found.union(*(refs(value) for value in node.values()))


def trim(document: dict[str, Any]) -> dict[str, Any]:
    definitions = document["definitions"]
    kept: dict[str, Any] = {}
    pending = {
        name
        for name in definitions
        for event, actions in ROUTED.items()
        if name.startswith(f"{event}$") and (actions is None or name.split("$")[1] in actions)
    }
    while pending:
        name = pending.pop()
        kept[name] = plain(definitions[name])
        pending |= {ref.removeprefix("#/definitions/") for ref in refs(kept[name])} - set(kept)
    return {
        "$schema": document["$schema"],
        "$comment": f"{PACKAGE}@{VERSION}, trimmed by tests/contracts/trim_webhooks.py",
        "definitions": dict(sorted(kept.items())),
    }


def main(source: str) -> None:
    document = json.loads(Path(source).read_text())
    OUT.write_text(json.dumps(trim(document), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

"""GitHub's REST contract: checks a request and its reply against GitHub's OpenAPI description.

The description is the trimmed copy in github-openapi.json (see trim_openapi.py and README.md).
The fake GitHub asks `check_request` about every request it receives and `check_response`
about every reply it gives; each returns the violations it found as short lines of text.

    contract = rest_contract()
    operation, problems = contract.check_request("POST", "/repos/o/r/check-runs", {}, body)
    problems += contract.check_response(operation, 201, "application/json", answer)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from starlette.types import Message, Send

DESCRIPTION = Path(__file__).with_name("github-openapi.json")
BASE = "urn:github-openapi"
# Path parameters whose values hold slashes: a file path, a git ref, `base...head`, a branch.
SLASHED = frozenset({"path", "ref", "basehead", "branch"})
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Operation:
    """One operation of the description: `pointer` is its JSON pointer in the document."""

    id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    pointer: str
    spec: Mapping[str, Any]

    @property
    def literal(self) -> int:
        """How much of the template is fixed text: the most specific match wins."""
        return len(re.sub(r"\{[^}]+\}", "", self.template))


def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def path_pattern(template: str) -> re.Pattern[str]:
    def param(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>.+)" if name in SLASHED else f"(?P<{name}>[^/]+)"

    return re.compile(
        re.sub(r"\{([^}]+)\}", param, re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
    )


class Contract:
    """The operations of an OpenAPI document, and validators for their schemas."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        self.registry: Registry = Registry().with_resource(BASE, resource)
        self.operations = [
            Operation(
                id=spec["operationId"],
                method=method.upper(),
                template=template,
                pattern=path_pattern(template),
                pointer=f"/paths/{escape(template)}/{method}",
                spec=spec,
            )
            for template, methods in document["paths"].items()
            for method, spec in methods.items()
        ]

    @cached_property
    def version(self) -> str:
        return str(self.document["info"].get("x-package", self.document["info"]["version"]))

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation for `method` and a request `path`, and the path's parameters."""
        found = [
            (operation, match.groupdict())
            for operation in self.operations
            if operation.method == method.upper()
            and (match := operation.pattern.fullmatch(path)) is not None
        ]
        if not found:
            return None
        return max(found, key=lambda pair: pair[0].literal)

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """A parameter, request body or response, following its $ref into the components."""
        while isinstance(node.get("$ref"), str):
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def check_request(
        self, method: str, path: str, query: Mapping[str, str], body: bytes
    ) -> tuple[Operation | None, list[str]]:
        """Is there such an operation, are its required parameters there and valid, is the
        JSON body valid against its request schema? Returns the operation and the problems."""
        matched = self.operation(method, path)
        if matched is None:
            return None, [f"no operation {method.upper()} {path} in {self.version}"]
        operation, path_params = matched
        problems = []
        params = [self.resolve(p) for p in operation.spec.get("parameters", [])]
        for param in params:
            name, place = param["name"], param["in"]
            value = path_params.get(name) if place == "path" else query.get(name)
            if place not in ("path", "query"):
                continue
            if value is None:
                if param.get("required"):
                    problems.append(f"{operation.id}: required {place} parameter {name} missing")
                continue
            problems += self.errors(
                f"{operation.id}: {place} parameter {name}",
                param.get("schema", {}),
                typed(value, param.get("schema", {})),
            )
        known = {p["name"] for p in params if p["in"] == "query"}
        problems += [
            f"{operation.id}: no query parameter {name}" for name in query if name not in known
        ]
        problems += self.check_body(operation, body)
        return operation, problems

    def check_body(self, operation: Operation, body: bytes) -> list[str]:
        request_body = operation.spec.get("requestBody")
        if request_body is None:
            if body.strip() not in (b"", b"{}", b"null"):
                return [f"{operation.id}: takes no request body"]
            return []
        request_body = self.resolve(request_body)
        if not body.strip():
            if request_body.get("required"):
                return [f"{operation.id}: request body required"]
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{operation.id}: request body is not JSON"]
        pointer = f"{operation.pointer}/requestBody/content/application~1json/schema"
        return self.errors(f"{operation.id}: request body", {"$ref": f"{BASE}#{pointer}"}, data)

    def check_response(
        self, operation: Operation, status: int, content_type: str, body: bytes
    ) -> list[str]:
        """Is the status documented (for success and redirects), and the JSON body valid
        against the response schema? Errors GitHub does not document are let through."""
        responses = operation.spec.get("responses", {})
        documented = responses.get(str(status))
        if documented is None:
            if status < 400:
                return [f"{operation.id}: answered {status}, which it does not document"]
            return []
        content = self.resolve(documented).get("content", {})
        if "application/json" not in content or "json" not in content_type:
            return []
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{operation.id}: {status} reply is not JSON"]
        if "$ref" in documented:
            pointer = documented["$ref"].removeprefix("#")
        else:
            pointer = f"{operation.pointer}/responses/{status}"
        schema = {"$ref": f"{BASE}#{pointer}/content/application~1json/schema"}
        return self.errors(f"{operation.id}: {status} reply", schema, data)

    def errors(self, where: str, schema: Mapping[str, Any], instance: Any) -> list[str]:
        error = best_match(self.validator(json.dumps(schema, sort_keys=True)).iter_errors(instance))
        if error is None:
            return []
        while error.context:
            # Into the branch of an anyOf that came closest, past the `null` of a nullable.
            error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        at = error.json_path
        message = error.message
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 3] + "..."
        return [f"{where} invalid at {at}: {message}"]

    @cache  # noqa: B019 - one Contract lives as long as the process
    def validator(self, schema: str) -> Draft7Validator:
        return Draft7Validator(json.loads(schema), registry=self.registry)


def typed(value: str, schema: Mapping[str, Any]) -> Any:
    """A parameter's text as the type its schema names, where it reads as one."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


@cache
def rest_contract() -> Contract:
    """The trimmed description, loaded once per process."""
    return Contract(json.loads(DESCRIPTION.read_text()))


def checking(
    send: Send, contract: Contract, operation: Operation, report: Callable[[list[str]], None]
) -> Send:
    """`send` that checks the reply against `operation` once it is complete, and reports the
    problems found (an ASGI wrapper for a server that answers as GitHub)."""
    status = 0
    content_type = ""
    chunks: list[bytes] = []

    async def check(message: Message) -> None:
        nonlocal status, content_type
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            content_type = headers.get("content-type", "")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                report(contract.check_response(operation, status, content_type, b"".join(chunks)))
        await send(message)

    return check

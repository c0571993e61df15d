"""Webhook payloads valid against GitHub's webhook schemas, as hypothesis strategies.

github-webhooks.json is @octokit/webhooks-schemas trimmed by trim_webhooks.py. `payloads(name)`
draws a payload of one `event$action` (e.g. "pull_request$opened"): every required property,
some optional ones, strings that may hold anything (NUL included), nulls where the schema allows
them. Each drawn payload is checked against the schema with jsonschema and discarded when it
breaks it (oneOf branches may overlap), so a test only ever sees valid payloads.

hypothesis-jsonschema would be the library for this, but on these schemas it needs minutes per
pull_request payload (it canonicalises every allOf of the whole nested pull request), and its
0.23.1 release breaks on hypothesis >= 6.170.10. The schemas use only a few keywords ($ref,
type, enum, properties, required, additionalProperties, items, maxItems, allOf, oneOf,
format), which this covers.
"""

from __future__ import annotations

import json
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from jsonschema import Draft7Validator

SCHEMAS = Path(__file__).with_name("github-webhooks.json")
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
NUMBERS = st.integers(min_value=1, max_value=2**31 - 1)
EPOCHS = st.integers(min_value=1_199_145_600, max_value=4_102_444_800)  # 2008 to 2100
MAX_ITEMS = 2
URLS = st.sampled_from(["https://github.com/octo-org/widgets", "https://api.github.com/x{/y}"])
FORMATS = {
    "date-time": st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    ),
    "uri": URLS,
    "uri-template": URLS,
}


@cache
def document() -> dict[str, Any]:
    return json.loads(SCHEMAS.read_text())


def events() -> list[str]:
    """Every `event$action` the trimmed schemas describe."""
    return sorted(name for name in document()["definitions"] if "$" in name)


@cache
def validator(name: str) -> Draft7Validator:
    return Draft7Validator({**document(), "$ref": f"#/definitions/{name}"})


def payloads(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of one `event$action`, each valid against GitHub's schema for it."""

    def valid(payload: Any) -> Any:
        assume(validator(name).is_valid(payload))
        return payload

    return value({"$ref": f"#/definitions/{name}"}).map(valid)


def value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: _value(json.dumps(schema, sort_keys=True)))


@cache
def _value(key: str) -> st.SearchStrategy[Any]:
    schema = json.loads(key)
    if "$ref" in schema:
        return value(document()["definitions"][schema["$ref"].rsplit("/", 1)[1]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema:
        return st.one_of([value(branch) for branch in schema["oneOf"]])
    if "allOf" in schema:
        return st.tuples(*(value(part) for part in schema["allOf"])).map(merged)
    kinds = schema.get("type", ["string", "integer", "boolean", "null"])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return st.one_of([of_type(kind, schema) for kind in kinds])


def of_type(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "object":
        return an_object(schema)
    if kind == "array":
        items = value(schema.get("items", {}))
        return st.lists(items, max_size=min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS))
    if kind == "string":
        return FORMATS.get(schema.get("format", ""), st.text(max_size=8))
    if kind == "integer":
        return INT64
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return st.none()


def an_object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    optional = [name for name in properties if name not in required]
    return st.fixed_dictionaries(
        {name: named(name, properties[name]) for name in required},
        optional={name: named(name, properties[name]) for name in optional},
    )


def named(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    # GitHub numbers a repository's issues and pull requests from 1, well within 32 bits (the
    # seed's `number integer` column); the schemas say only "integer".
    if name == "number" and schema.get("type") == "integer":
        return NUMBERS
    # Older installation payloads give times as epoch seconds: times GitHub has seen.
    if name.endswith("_at") and {"type": "integer"} in schema.get("oneOf", []):
        others = [branch for branch in schema["oneOf"] if branch != {"type": "integer"}]
        return st.one_of(EPOCHS, *(value(branch) for branch in others))
    return value(schema)


def merged(parts: tuple[Any, ...]) -> Any:
    """allOf: each part drawn on its own, later parts' properties over earlier ones."""
    out = parts[0]
    for part in parts[1:]:
        if isinstance(out, dict) and isinstance(part, dict):
            out = {**out, **{k: merged((out[k], v)) if k in out else v for k, v in part.items()}}
        else:
            out = part
    return out

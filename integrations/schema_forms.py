"""Forms generated from a definition's JSON Schema: fields to render, and posted values back to JSON.

Handles what integration schemas use: strings (with enum → select, format), integers, numbers,
booleans, arrays of strings (comma-separated) and one level of nested objects (a fieldset).
A select's options are (value, label): the label is `x-enumNames[i]` beside `enum`, else the value.
Titles, descriptions and labels are seed texts, shown in the reader's language (qiiub.seed_texts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from qiiub.seed_texts import enum_choices, seed_text


@dataclass
class SchemaField:
    name: str  # dotted path, also the input name
    label: str
    kind: str  # text, password, number, integer, checkbox, select, list
    help_text: str = ""
    required: bool = False
    value: Any = None
    choices: list[tuple[Any, str]] = field(default_factory=list)  # (value stored, label shown)
    errors: list[str] = field(default_factory=list)
    group: str = ""


def _kind(prop: dict, secret: bool) -> str:
    if "enum" in prop:
        return "select"
    kind = prop.get("type", "string")
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        return "list"
    return "password" if secret or prop.get("writeOnly") else "text"


def schema_fields(
    schema: dict,
    values: dict | None = None,
    errors: dict[str, list[str]] | None = None,
    *,
    secret: bool = False,
) -> list[SchemaField]:
    values = values or {}
    errors = errors or {}
    fields: list[SchemaField] = []

    def walk(node: dict, current: dict, prefix: str, group: str) -> None:
        required = set(node.get("required", []))
        for name, prop in (node.get("properties") or {}).items():
            path = f"{prefix}{name}"
            if prop.get("type") == "object":
                walk(prop, current.get(name) or {}, f"{path}.", seed_text(prop["title"]) if "title" in prop else name)
                continue
            value = None if secret else current.get(name, prop.get("default"))
            if isinstance(value, list):
                value = ", ".join(str(item) for item in value)
            fields.append(
                SchemaField(
                    name=path,
                    label=seed_text(prop["title"]) if "title" in prop else name.replace("_", " ").capitalize(),
                    kind=_kind(prop, secret),
                    help_text=seed_text(prop.get("description", "")),
                    required=name in required,
                    value=value,
                    choices=enum_choices(prop),
                    errors=errors.get(path, []),
                    group=group,
                )
            )

    walk(schema, values, "", "")
    return fields


def _coerce(prop: dict, raw: str) -> Any:
    kind = prop.get("type", "string")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw  # left as text so the schema check reports "Must be a …" on this field
    if "enum" in prop:
        for choice in prop["enum"]:
            if str(choice) == raw:
                return choice
    if kind == "array":
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def values_from_post(schema: dict, post: QueryDict) -> dict:
    """Rebuild the JSON value from a posted form; empty inputs are left out (so `required` applies)."""

    def walk(node: dict, prefix: str) -> dict:
        result: dict[str, Any] = {}
        for name, prop in (node.get("properties") or {}).items():
            path = f"{prefix}{name}"
            if prop.get("type") == "object":
                nested = walk(prop, f"{path}.")
                if nested or name in node.get("required", []):
                    result[name] = nested
            elif prop.get("type") == "boolean":
                result[name] = post.get(path) in ("on", "true", "1")
            else:
                raw = (post.get(path) or "").strip()
                if raw != "":
                    result[name] = _coerce(prop, raw)
        return result

    return walk(schema, "")

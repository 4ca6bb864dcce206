"""Forms generated from a JSON Schema: the parts to render, and a posted form read back as JSON.

Handles what integration and device-setting schemas use: strings (enum → select), integers,
numbers, booleans (checkbox), arrays of scalars (a checkbox per value of an enum, else
comma-separated), nested objects (a fieldset) and alternatives (`oneOf` / `anyOf`: a device's
connection told apart by its `type`, a device that is not set up): a select of the alternative, then
each alternative's fields in its own fieldset. Every alternative is rendered, so the form works
without JavaScript; only the one selected is read. A `const` property is not asked: its
alternative says it. A select's options are (value, label): the label is `x-enumNames[i]` beside
`enum`, else the value. Titles, descriptions and labels are seed texts, shown in the reader's
language (qiiub.seed_texts).

Input names are field paths ("connection.port"); an alternative's select is "<path>@" and its
fields "<path>@<alternative>.<name>" ("connection@tcp.port"), so alternatives never share an
input. A schema that is a single scalar (a receipt footer) is one input named "value".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.http import QueryDict
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from qiiub.schemas import field_path
from qiiub.seed_texts import enum_choices, seed_text

ROOT_INPUT = "value"
_MISSING = object()
# Control characters (a scanner's Enter suffix) cannot live in a text input: the browser drops line
# breaks. A text holding some is shown with JSON's escapes ("\r"), and an input beside it says so.
ESCAPED_SUFFIX = "~escaped"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class SchemaField:
    name: str  # the input's name
    label: str
    kind: str  # text, password, number, integer, checkbox, select, list, checkboxes
    help_text: str = ""
    required: bool = False
    value: Any = None
    choices: list[tuple[Any, str]] = field(default_factory=list)  # (value stored, label shown)
    errors: list[str] = field(default_factory=list)
    group: str = ""
    escaped_input: str = ""  # the value is shown with JSON's escapes: the input that says so
    part: ClassVar[str] = "field"


@dataclass
class SchemaGroup:
    """An object's fields: a fieldset with `label` as its legend (none at the top of the form)."""

    label: str
    children: list
    part: ClassVar[str] = "group"


@dataclass
class SchemaBranch:
    key: str  # the select's value
    label: str
    content: SchemaField | SchemaGroup | SchemaChoice | None  # None: nothing to fill in
    selected: bool


@dataclass
class SchemaChoice:
    """A select of one alternative, each alternative's fields after it."""

    name: str  # the select's name
    label: str
    branches: list[SchemaBranch]
    errors: list[str] = field(default_factory=list)
    part: ClassVar[str] = "choice"


@dataclass
class SchemaForm:
    root: SchemaField | SchemaGroup | SchemaChoice
    unplaced: dict[str, list[str]]  # errors no field of the form shows (the value as a whole, say)
    invalid: bool


def _alternatives(schema: dict) -> list[dict]:
    return schema.get("oneOf") or schema.get("anyOf") or []


def _is_object(schema: dict) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _discriminator(alternative: dict) -> tuple[str, Any] | None:
    """The (property, value) an alternative is told apart by: its first `const` property."""
    for name, prop in (alternative.get("properties") or {}).items():
        if "const" in prop:
            return name, prop["const"]
    return None


def _is_null(alternative: dict) -> bool:
    return alternative.get("type") == "null"


def _branch_key(alternative: dict, index: int) -> str:
    if _is_null(alternative):
        return "null"  # not "": a post without the select must not read as "not set up"
    discriminator = _discriminator(alternative)
    return str(discriminator[1]) if discriminator else str(index)


def _branch_label(alternative: dict, key: str) -> str:
    if "title" in alternative:
        return seed_text(alternative["title"])
    if _is_null(alternative):
        return _("Not set up")
    return key.replace("_", " ") if _discriminator(alternative) else _("Set up")


def _fits(alternative: dict, value: Any) -> bool:
    if (discriminator := _discriminator(alternative)) is not None:
        return isinstance(value, dict) and value.get(discriminator[0]) == discriminator[1]
    kind = alternative.get("type")
    return kind is None or Draft202012Validator.TYPE_CHECKER.is_type(value, kind)


def _choice_label(schema: dict) -> str:
    """What the select of a value's alternatives is called: the name they are told apart by."""
    names = {found[0] for alternative in _alternatives(schema) if (found := _discriminator(alternative))}
    if len(names) != 1:
        return _("Status")
    name = names.pop()
    first = next(alternative for alternative in _alternatives(schema) if _discriminator(alternative))
    return _label(first["properties"][name], name)


def _label(prop: dict, name: str) -> str:
    return seed_text(prop["title"]) if "title" in prop else name.replace("_", " ").capitalize()


def _properties(schema: dict) -> list[tuple[str, dict]]:
    """An object's properties, the required ones first in the order `required` lists them: a schema
    stored as jsonb comes back with its keys reordered, and only a list keeps its order."""
    properties = schema.get("properties") or {}
    needed = [name for name in dict.fromkeys(schema.get("required", [])) if name in properties]
    return [(name, properties[name]) for name in needed] + [
        (name, prop) for name, prop in properties.items() if name not in needed]


def _input_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _kind(prop: dict, secret: bool) -> str:
    if "enum" in prop:
        return "select"
    kind = prop.get("type", "string")
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        return "checkboxes" if "enum" in (prop.get("items") or {}) else "list"
    return "password" if secret or prop.get("writeOnly") else "text"


class _Builder:
    """Walks a schema beside a value, handing each field its errors (each error to one field)."""

    def __init__(self, errors: dict[str, list[str]], secret: bool):
        self.errors, self.secret = dict(errors), secret

    def _take(self, paths: tuple[str, ...], items_of: str | None = None) -> list[str]:
        """The errors at `paths` (and at the items of the list at path `items_of`), each message once."""
        taken = [key for key in self.errors
                 if key in paths or (items_of is not None and key.startswith(f"{items_of}["))]
        return list(dict.fromkeys(message for key in taken for message in self.errors.pop(key)))

    def part(self, schema: dict, value: Any, name: str, parts: list, label: str, required: bool):
        if alternatives := _alternatives(schema):
            return self._choice(schema, alternatives, value, name, parts, label)
        if _is_object(schema):
            value = value if isinstance(value, dict) else {}
            needed = set(schema.get("required", []))
            return SchemaGroup(label, [
                self.part(prop, value.get(key, prop.get("default")), _input_name(name, key), [*parts, key],
                          _label(prop, key), key in needed)
                for key, prop in _properties(schema) if "const" not in prop
            ])
        return self._field(schema, value, name, parts, label, required)

    def _choice(self, schema, alternatives, value, name, parts, label) -> SchemaChoice:
        chosen = next((index for index, alternative in enumerate(alternatives) if _fits(alternative, value)), 0)
        branches = []
        for index, alternative in enumerate(alternatives):
            key = _branch_key(alternative, index)
            # The alternatives not chosen share the chosen one's paths: its errors are not theirs.
            builder = self if index == chosen else _Builder({}, self.secret)
            content = None if _is_null(alternative) else builder.part(
                alternative, value if index == chosen else None, f"{name}@{key}", parts, "", True)
            branches.append(SchemaBranch(key, _branch_label(alternative, key), content, index == chosen))
        errors = self._take((field_path(parts) or "__all__",))
        return SchemaChoice(f"{name}@", label or _choice_label(schema), branches, errors)

    def _field(self, schema, value, name, parts, label, required) -> SchemaField:
        kind, name = _kind(schema, self.secret), name or ROOT_INPUT
        help_text, escaped_input = seed_text(schema.get("description", "")), ""
        if self.secret:
            value = None
        elif kind == "list" and isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        elif kind == "text" and isinstance(value, str) and _CONTROL_CHARACTER.search(value):
            value, escaped_input = json.dumps(value, ensure_ascii=False)[1:-1], f"{name}{ESCAPED_SUFFIX}"
            hint = _(r"Written with escapes: \r is Enter, \t is Tab, \\ is a backslash.")
            help_text = f"{help_text} {hint}".strip()
        path = field_path(parts)
        # At the top, a schema error has no path and the card guard calls the value "value".
        paths = (path,) if parts else (ROOT_INPUT, "__all__")
        return SchemaField(
            name=name, label=label or _("Value"), kind=kind, help_text=help_text, required=required, value=value,
            choices=enum_choices((schema.get("items") or {}) if kind == "checkboxes" else schema),
            errors=self._take(paths, items_of=path if kind in ("list", "checkboxes") else None),
            escaped_input=escaped_input,
        )


def schema_form(schema: dict, value: Any, errors: dict[str, list[str]] | None = None, *,
                secret: bool = False) -> SchemaForm:
    """The form for `value` under `schema`, with `errors` ({field path: messages}) at their fields."""
    builder = _Builder(errors or {}, secret)
    root = builder.part(schema, value, "", [], "", False)  # not starred: the whole value is always there
    return SchemaForm(root=root, unplaced=builder.errors, invalid=bool(errors))


def _leaves(part, group: str = ""):
    if part.part == "field":
        part.group = group
        yield part
    elif part.part == "group":
        for child in part.children:
            yield from _leaves(child, part.label or group)
    else:
        for branch in part.branches:
            if branch.content is not None:
                yield from _leaves(branch.content, group)


def schema_fields(schema: dict, values: dict | None = None, errors: dict[str, list[str]] | None = None, *,
                  secret: bool = False) -> list[SchemaField]:
    """The form's fields in order, each with the legend of the fieldset it is in as its `group`."""
    return list(_leaves(schema_form(schema, values or {}, errors, secret=secret).root))


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
    return raw


def _unescaped(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text  # not escapes after all (a lone backslash): read as typed


def _read(schema: dict, name: str, post: QueryDict, required: bool) -> Any:
    if alternatives := _alternatives(schema):
        posted = post.get(f"{name}@", "")
        for index, alternative in enumerate(alternatives):
            if _branch_key(alternative, index) == posted:
                return None if _is_null(alternative) else _read(alternative, f"{name}@{posted}", post, True)
        return posted  # no such alternative: the schema check says the value is not one of them
    if _is_object(schema):
        needed, result = set(schema.get("required", [])), {}
        for key, prop in _properties(schema):
            item = prop["const"] if "const" in prop else _read(prop, _input_name(name, key), post, key in needed)
            if item is not _MISSING:
                result[key] = item
        return result if result or required else _MISSING
    name = name or ROOT_INPUT
    items = schema.get("items") or {}
    if schema.get("type") == "boolean":
        return post.get(name) in ("on", "true", "1")
    if schema.get("type") == "array" and "enum" in items:
        return [_coerce(items, raw) for raw in post.getlist(name)]
    raw = (post.get(name) or "").strip()
    if post.get(f"{name}{ESCAPED_SUFFIX}"):
        raw = _unescaped(raw)
    if raw == "":
        # Empty is missing (so `required` applies), unless the field must be there and may be
        # empty: a scanner that adds no prefix.
        return "" if required and Draft202012Validator(schema).is_valid("") else _MISSING
    if schema.get("type") == "array":
        return [_coerce(items, item.strip()) for item in raw.split(",") if item.strip()]
    return _coerce(schema, raw)


def values_from_post(schema: dict, post: QueryDict) -> Any:
    """The JSON value a posted form stands for; empty inputs are left out (so `required` applies)."""
    value = _read(schema, "", post, True)
    return None if value is _MISSING else value

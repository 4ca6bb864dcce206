"""JSON Schema helpers: a value against a schema (after the card guard), with field paths and messages a
merchant can act on; schema checks for seeds; defaults filled in."""

from __future__ import annotations

import copy
import re
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError

from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import CardDataRejected, ValidationFailed
from qiiub.seed_texts import ENUM_NAMES, seed_text, subschemas


def schema_problem(schema: Any) -> str | None:
    """Why a JSON Schema is not itself a valid schema (None when it is)."""
    if not isinstance(schema, dict):
        return "must be a JSON object"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.path) or "(root)"
        return f"{error.message} (at {where})"
    return _enum_names_problem(schema)


def _enum_names_problem(schema: Any) -> str | None:
    """`x-enumNames` (the labels a select shows for an `enum`, ADR 0007): a list of texts beside an
    `enum` of the same length. jsonschema ignores the keyword, so it is checked here."""
    for path, node in subschemas(schema):
        if ENUM_NAMES not in node:
            continue
        where = "/".join(str(part) for part in path) or "(root)"
        names, enum = node[ENUM_NAMES], node.get("enum")
        if not isinstance(enum, list):
            return f"{ENUM_NAMES} needs an enum beside it (at {where})"
        if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
            return f"{ENUM_NAMES} must be a list of non-empty texts (at {where})"
        if len(names) != len(enum):
            return f"{ENUM_NAMES} has {len(names)} labels for {len(enum)} enum values (at {where})"
    return None


def _field_path(error) -> str:
    path = list(error.absolute_path)
    if error.validator == "required":
        # "'api_key' is a required property": point at the missing field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    elif error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        path.append(extra)
    return field_path(path) or "__all__"


def field_path(parts) -> str:
    """["tenders", 0, "amount"] → "tenders[0].amount", as the card guard names fields too."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# A field's messages are shown next to it, in the language of whoever is filling in the form.
_TYPE_MESSAGES = {
    "integer": gettext_lazy("Must be a whole number."),
    "number": gettext_lazy("Must be a number."),
    "string": gettext_lazy("Must be text."),
    "boolean": gettext_lazy("Must be yes or no."),
    "array": gettext_lazy("Must be a list."),
    "object": gettext_lazy("Must be a group of fields."),
}


def _friendly(error) -> str:
    if error.validator == "required":
        return _("This field is required.")
    if error.validator == "additionalProperties":
        return _("This field is not part of this integration's configuration.")
    if error.validator == "enum":
        return _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(str(choice) for choice in error.validator_value)}
    if error.validator == "type":
        if (message := _TYPE_MESSAGES.get(str(error.validator_value))) is not None:
            return str(message)
        return _("Must be %(type)s.") % {"type": error.validator_value}
    if error.validator in ("pattern", "format"):
        hint = seed_text(error.schema.get("description", "")) if isinstance(error.schema, dict) else ""
        expected = _("Not in the expected format.")
        return f"{expected} {hint}".strip()
    if error.validator == "const":
        return _("Must be %(value)s.") % {"value": repr(error.validator_value)}
    if error.validator in ("anyOf", "oneOf"):
        return _("Not one of the accepted forms: check the type and each field.")
    if error.validator == "minLength" and error.validator_value == 1:
        return _("This field is required.")
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return error.message.replace(str(error.instance), "The value", 1)
    # The rest never quote the value back: it may be a patient's name, or anything else a caller
    # should not find repeated in an answer or a log.
    if error.validator == "maxLength":
        return _("At most %(count)s characters.") % {"count": error.validator_value}
    if error.validator == "minLength":
        return _("At least %(count)s characters.") % {"count": error.validator_value}
    if error.validator == "maxItems":
        return _("At most %(count)s items.") % {"count": error.validator_value}
    if error.validator == "minItems":
        return _("At least %(count)s items.") % {"count": error.validator_value}
    return _("Not an accepted value (%(rule)s).") % {"rule": error.validator}


def schema_errors(schema: dict, value: Any) -> dict[str, list[str]]:
    return schema_errors_from(Draft202012Validator(schema), value)


def schema_errors_from(validator: Draft202012Validator, value: Any, *, unknown_field: str | None = None
                       ) -> dict[str, list[str]]:
    """{field path: [messages a person can act on]} for everything `value` gets wrong. `unknown_field`
    is what a field the schema does not have is told, in the words of what `value` is (a POS record,
    say); without it, the words of an integration's configuration."""
    errors: dict[str, list[str]] = {}
    leaves = [leaf for error in validator.iter_errors(value) for leaf in _within_alternatives(error)]
    for error in sorted(leaves, key=lambda e: [str(part) for part in e.absolute_path]):
        message = unknown_field if unknown_field and error.validator == "additionalProperties" else _friendly(error)
        errors.setdefault(_field_path(error), []).append(message)
    return errors


def _within_alternatives(error) -> list:
    """For "one of these forms" (anyOf / oneOf), the errors of the one form the value was meant to
    be, so a TCP printer without a host says "connection.host: required", not "no form matched".
    A form is ruled out by a wrong type at its root or a wrong discriminator (`const`) field."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    forms: dict = {}
    for sub in error.context:
        forms.setdefault(sub.schema_path[0], []).append(sub)
    meant = [
        errors for errors in forms.values()
        if not any((sub.validator == "type" and not sub.relative_path)
                   or (sub.validator == "const" and len(sub.relative_path) <= 1) for sub in errors)
    ]
    if len(meant) != 1:
        return [error]
    return [leaf for sub in meant[0] for leaf in _within_alternatives(sub)]


def _property_schema(node: Any, name: str) -> dict | None:
    """The schema of property `name` of `node`, looking into its alternatives (anyOf / oneOf)."""
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("properties"), dict) and name in node["properties"]:
        return node["properties"][name]
    for alternative in (node.get("anyOf") or []) + (node.get("oneOf") or []):
        if (found := _property_schema(alternative, name)) is not None:
            return found
    return None


def field_label(schema: dict, path: str) -> str:
    """What a person calls the field at `path` ("connection.port"): the schema's `title`s along the
    way, in the reader's language ("Connection › Port"); a name without a title is humanised."""
    labels, node = [], schema
    for name in re.findall(r"[^.\[\]]+", path):
        if name.isdigit():
            continue
        node = _property_schema(node, name)
        title = node.get("title") if isinstance(node, dict) else None
        labels.append(seed_text(title) if title else name.replace("_", " ").capitalize())
    return " › ".join(labels)


def labelled_messages(schema: dict, field_errors: dict[str, list[str]]) -> list[str]:
    """Field errors as sentences that name their field by its label, for a form that shows a
    value's errors together (each message once)."""
    return [
        message if path == "__all__" else _("%(field)s: %(message)s") % {"field": field_label(schema, path),
                                                                         "message": message}
        for path, messages in field_errors.items() for message in dict.fromkeys(messages)
    ]


def with_schema_defaults(schema: dict, value: dict) -> dict:
    """`value` with the schema's `default`s filled in where a property is missing (nested objects too)."""
    result = copy.deepcopy(value) if isinstance(value, dict) else {}
    for name, prop in (schema.get("properties") or {}).items():
        if name not in result and "default" in prop:
            result[name] = copy.deepcopy(prop["default"])
        if prop.get("type") == "object" and isinstance(result.get(name, {}), dict):
            nested = with_schema_defaults(prop, result.get(name, {}))
            if nested or name in result:
                result[name] = nested
    return result


def validate_against(schema: dict, value: Any, *, refusal: str) -> None:
    """The one check for inbound configuration: the card guard first, then the schema. `refusal`
    is the sentence that answers invalid input ("The configuration is not valid: …"), translated."""
    try:
        ensure_no_card_data(value)
    except CardDataRejected as error:  # named at its field by its label, like any other refusal
        raise CardDataRejected(error.field_path, label=field_label(schema, error.field_path), refusal=refusal) from None
    errors = schema_errors(schema, value)
    if errors:
        raise ValidationFailed(refusal, field_errors=errors)


# A template or a just-enabled installation may leave out what each store fills in (its own server,
# say); every other rule of the schema holds. Activation checks the whole schema.
_WithoutRequired = validators.extend(Draft202012Validator, {"required": lambda *_: iter(())})


def partial_schema_errors(schema: dict, value: Any) -> dict[str, list[str]]:
    """`schema_errors`, except for fields that are missing."""
    return schema_errors_from(_WithoutRequired(schema), value)

"""Loading setting definitions from `seeds/settings.json` (idempotent, all or nothing)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django.db import transaction

from devices.cascade import config_changed
from devices.models import SettingDefinition
from integrations.services.config import schema_errors, schema_problem
from integrations.services.registry import LoadReport, SeedError

KEY_FORMAT = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
FIELDS = {"key": str, "description": str, "schema": dict, "default": object, "lockable": bool, "system_locked": bool}


def _fail(path: Path, field: str, message: str) -> SeedError:
    return SeedError(f"{path.name}: {field}: {message}", field_errors={f"{path.name}:{field}": [message]})


def _check(path: Path, index: int, entry: Any) -> dict:
    where = f"settings[{index}]"
    if not isinstance(entry, dict):
        raise _fail(path, where, "must be an object")
    for field in ("key", "schema"):
        if field not in entry:
            raise _fail(path, f"{where}.{field}", "is required")
    for field, value in entry.items():
        if field not in FIELDS:
            raise _fail(path, f"{where}.{field}", "is not a known field")
        if not isinstance(value, FIELDS[field]):
            raise _fail(path, f"{where}.{field}", f"must be a {FIELDS[field].__name__}")
    if not KEY_FORMAT.match(entry["key"]):
        raise _fail(path, f"{where}.key", "must look like 'area.name' (lowercase letters, digits, _, dots)")
    if problem := schema_problem(entry["schema"]):
        raise _fail(path, f"{where}.schema", f"is not a valid JSON Schema: {problem}")
    if errors := schema_errors(entry["schema"], entry.get("default")):
        raise _fail(path, f"{where}.default", f"does not satisfy the schema: {errors}")
    return entry


def read_settings(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise _fail(path, "(file)", "is missing") from None
    except json.JSONDecodeError as error:
        raise _fail(path, f"line {error.lineno}", f"invalid JSON ({error.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), list):
        raise _fail(path, "settings", "the file must be an object with a 'settings' list")
    entries, seen = [], set()
    for index, entry in enumerate(data["settings"]):
        checked = _check(path, index, entry)
        if checked["key"] in seen:
            raise _fail(path, f"settings[{index}].key", f"'{checked['key']}' appears twice")
        seen.add(checked["key"])
        entries.append(checked)
    return entries


@transaction.atomic
def settings_load(*, path: Path) -> LoadReport:
    """Create or update every definition; a change reaches every location's config version."""
    report = LoadReport()
    changed = False
    for entry in read_settings(path):
        values = {
            "description": entry.get("description", ""),
            "schema": entry["schema"],
            "default": entry.get("default"),
            "lockable": entry.get("lockable", True),
            "system_locked": entry.get("system_locked", False),
        }
        existing = SettingDefinition.objects.filter(key=entry["key"]).first()
        if existing is None:
            SettingDefinition.objects.create(key=entry["key"], **values)
            report.created += 1
            changed = True
        elif any(getattr(existing, name) != value for name, value in values.items()):
            SettingDefinition.objects.filter(pk=existing.pk).update(**values)
            report.updated += 1
            changed = True
    if changed:
        config_changed(None)
    return report

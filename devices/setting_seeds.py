"""Loading setting definitions from `seeds/settings.json` (idempotent, all or nothing)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.db import transaction

from devices.cascade import config_changed
from devices.models import SettingDefinition
from qiiub.schemas import schema_errors, schema_problem
from qiiub.seed_files import LoadReport, read_seed_list, seed_error

KEY_FORMAT = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
FIELDS = {"key": str, "description": str, "schema": dict, "default": object, "lockable": bool, "system_locked": bool}


def _check(path: Path, index: int, entry: Any) -> dict:
    where = f"settings[{index}]"
    if not isinstance(entry, dict):
        raise seed_error(path, where, "must be an object")
    for field in ("key", "schema"):
        if field not in entry:
            raise seed_error(path, f"{where}.{field}", "is required")
    for field, value in entry.items():
        if field not in FIELDS:
            raise seed_error(path, f"{where}.{field}", "is not a known field")
        if not isinstance(value, FIELDS[field]):
            raise seed_error(path, f"{where}.{field}", f"must be a {FIELDS[field].__name__}")
    if not KEY_FORMAT.match(entry["key"]):
        raise seed_error(path, f"{where}.key", "must look like 'area.name' (lowercase letters, digits, _, dots)")
    if problem := schema_problem(entry["schema"]):
        raise seed_error(path, f"{where}.schema", f"is not a valid JSON Schema: {problem}")
    if errors := schema_errors(entry["schema"], entry.get("default")):
        raise seed_error(path, f"{where}.default", f"does not satisfy the schema: {errors}")
    return entry


def read_settings(path: Path) -> list[dict]:
    entries, seen = [], set()
    for index, entry in enumerate(read_seed_list(path, "settings")):
        checked = _check(path, index, entry)
        if checked["key"] in seen:
            raise seed_error(path, f"settings[{index}].key", f"'{checked['key']}' appears twice")
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

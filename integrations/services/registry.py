"""The integration registry: loading it from `seeds/integrations/*.json` (idempotent, all or
nothing), and what SystemAdmin must know before changing a definition in use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Count

from integrations.connectors.base import CAPABILITY_FOR_PATTERN
from integrations.connectors.registry import connector_class_for, has_connector
from integrations.models import (
    Category,
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationType,
    MerchantIntegration,
    Scope,
    Status,
    SyncPattern,
)
from merchants.models import Module, Vertical
from qiiub.schemas import partial_schema_errors, schema_errors, schema_problem
from qiiub.seed_files import LoadReport, SeedError, read_seed_list, seed_error

REQUIRED_FIELDS = ("code", "name", "category", "integration_type", "status", "configuration_schema")
KNOWN_FIELDS = set(REQUIRED_FIELDS) | {
    "description",
    "scope",
    "vertical_affinity",
    "credentials_schema",
    "requires_oauth",
    "required_module",
    "sync_patterns",
    "per_location",
}
CODE_FORMAT = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
# field → (type, max length for strings)
FIELD_TYPES: dict[str, tuple[type, int | None]] = {
    "code": (str, 80),
    "name": (str, 200),
    "description": (str, None),
    "category": (str, None),
    "integration_type": (str, None),
    "scope": (str, None),
    "vertical_affinity": (str, 20),
    "configuration_schema": (dict, None),
    "credentials_schema": (dict, None),
    "requires_oauth": (bool, None),
    "required_module": (str, None),
    "status": (str, None),
    "sync_patterns": (list, None),
    "per_location": (bool, None),
}
CHOICES = {
    "category": Category.values,
    "integration_type": IntegrationType.values,
    "scope": Scope.values,
    "status": DefinitionStatus.values,
}


def _check_entry(file: Path, index: int, entry: Any, modules: set[str]) -> dict:
    where = f"definitions[{index}]"
    if not isinstance(entry, dict):
        raise seed_error(file, where, "must be an object")
    for field in REQUIRED_FIELDS:
        if field not in entry:
            raise seed_error(file, f"{where}.{field}", "is required")
    for field, value in entry.items():
        if field not in KNOWN_FIELDS:
            raise seed_error(file, f"{where}.{field}", "is not a known field")
        kind, max_length = FIELD_TYPES[field]
        if field == "required_module" and value is None:
            continue
        if not isinstance(value, kind):
            raise seed_error(file, f"{where}.{field}", f"must be a {kind.__name__}, not {type(value).__name__}")
        if max_length and len(value) > max_length:
            raise seed_error(file, f"{where}.{field}", f"is longer than {max_length} characters")
    if not CODE_FORMAT.match(entry["code"]):
        raise seed_error(file, f"{where}.code", "must look like 'category.name' (lowercase letters, digits, _)")
    for field, allowed in CHOICES.items():
        if field in entry and entry[field] not in allowed:
            raise seed_error(file, f"{where}.{field}", f"'{entry[field]}' is not one of {', '.join(allowed)}")
    for field in ("configuration_schema", "credentials_schema"):
        if field in entry and (problem := schema_problem(entry[field])):
            raise seed_error(file, f"{where}.{field}", f"is not a valid JSON Schema: {problem}")
    for pattern in entry.get("sync_patterns", []):
        if pattern not in SyncPattern.values:
            raise seed_error(file, f"{where}.sync_patterns", f"'{pattern}' is not a known sync pattern")
    if entry.get("scope") == Scope.VERTICAL and entry.get("vertical_affinity") not in Vertical.values:
        raise seed_error(file, f"{where}.vertical_affinity", "a vertical-scoped definition needs a vertical")
    if entry.get("required_module") and entry["required_module"] not in modules:
        raise seed_error(file, f"{where}.required_module", f"unknown module '{entry['required_module']}'")
    _check_against_connector(file, where, entry)
    return entry


def _check_against_connector(file: Path, where: str, entry: dict) -> None:
    """The connector is the truth about what an integration does: a seed that says otherwise (a sync
    pattern it cannot run, one it runs left out, OAuth or not) is refused."""
    if not has_connector(entry["code"]):
        return  # planned, or served on the terminal: nothing runs it here
    connector = connector_class_for(entry["code"])
    needed = {CAPABILITY_FOR_PATTERN[pattern] for pattern in entry.get("sync_patterns", [])
              if pattern in CAPABILITY_FOR_PATTERN}
    declared = connector.capabilities - {"test_connection"}
    if needed != declared:
        raise seed_error(file, f"{where}.sync_patterns", f"say {sorted(needed)}, but the connector of "
                         f"'{entry['code']}' does {sorted(declared)}")
    if bool(entry.get("requires_oauth", False)) != connector.requires_oauth:
        raise seed_error(file, f"{where}.requires_oauth", f"must be {str(connector.requires_oauth).lower()}, as "
                         f"the connector of '{entry['code']}' signs in {'with' if connector.requires_oauth else 'without'} OAuth")


def read_seed_files(directory: Path, modules: set[str]) -> list[dict]:
    """Parse and check every file first, so a bad file changes nothing."""
    entries: list[dict] = []
    seen: dict[str, str] = {}
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SeedError(f"No seed files in {directory}.")
    for file in files:
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise seed_error(file, f"line {error.lineno}", f"invalid JSON ({error.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("definitions"), list):
            raise seed_error(file, "definitions", "the file must be an object with a 'definitions' list")
        for index, entry in enumerate(data["definitions"]):
            checked = _check_entry(file, index, entry, modules)
            if checked["code"] in seen:
                raise seed_error(file, f"definitions[{index}].code", f"'{checked['code']}' is also in {seen[checked['code']]}")
            seen[checked["code"]] = file.name
            entries.append(checked)
    return entries


def read_modules(path: Path) -> list[dict]:
    modules = read_seed_list(path, "modules")
    for index, entry in enumerate(modules):
        for field, max_length in (("code", 80), ("name", 200)):
            value = entry.get(field) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value or len(value) > max_length:
                raise seed_error(path, f"modules[{index}].{field}", f"must be text of 1 to {max_length} characters")
    return modules


@transaction.atomic
def registry_load(*, seeds_dir: Path) -> LoadReport:
    module_entries = read_modules(seeds_dir / "modules.json")
    known_modules = {entry["code"] for entry in module_entries} | set(Module.objects.values_list("code", flat=True))
    entries = read_seed_files(seeds_dir / "integrations", known_modules)
    # Everything was checked: only now is anything written.
    for entry in module_entries:
        Module.objects.update_or_create(code=entry["code"], defaults={"name": entry["name"]})
    modules = {module.code: module for module in Module.objects.all()}
    report = LoadReport()
    for entry in entries:
        defaults = {
            "name": entry["name"],
            "description": entry.get("description", ""),
            "category": entry["category"],
            "integration_type": entry["integration_type"],
            "scope": entry.get("scope", Scope.GLOBAL),
            "vertical_affinity": entry.get("vertical_affinity", ""),
            "configuration_schema": entry["configuration_schema"],
            "credentials_schema": entry.get("credentials_schema", {}),
            "requires_oauth": entry.get("requires_oauth", False),
            "required_module": modules.get(entry.get("required_module") or ""),
            "status": entry["status"],
            "sync_patterns": entry.get("sync_patterns", []),
            "per_location": entry.get("per_location", False),
        }
        existing = IntegrationDefinition.objects.filter(code=entry["code"]).first()
        if existing and existing.status == DefinitionStatus.DEPRECATED:
            # A SystemAdmin's deprecation stands until lifted in the admin; reseeding never undoes it.
            defaults["status"] = DefinitionStatus.DEPRECATED
        _, created = IntegrationDefinition.objects.update_or_create(code=entry["code"], defaults=defaults)
        if created:
            report.created += 1
        else:
            report.updated += 1
    return report


def installations_invalid_under(*, definition: IntegrationDefinition, configuration_schema: dict
                                ) -> list[MerchantIntegration]:
    """The live installations (not disconnected) whose stored configuration the new schema would
    refuse: checked as activation checks it, or, while still being set up, as enabling does."""
    installations = (MerchantIntegration.objects.filter(definition=definition).exclude(status=Status.DISCONNECTED)
                     .select_related("merchant", "location").order_by("merchant__name", "location__name"))
    return [
        installation for installation in installations
        if (partial_schema_errors if installation.status == Status.CONFIGURING else schema_errors)(
            configuration_schema, installation.configuration)
    ]


def definition_stores_using(definition: IntegrationDefinition) -> int:
    """How many merchants hold an installation of the definition (any status: each row protects it)."""
    return definition.installations.values("merchant").distinct().count()


def installations_by_status(definition: IntegrationDefinition) -> dict[str, int]:
    """{status: how many installations of the definition are in it}."""
    return dict(definition.installations.values_list("status").annotate(total=Count("pk")).order_by())

"""Seed files (seeds/*.json): the checks every loader shares and the report of a load. A file that
breaks a rule is refused with its name, the field and the rule, and nothing of it is written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qiiub.errors import ValidationFailed


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0


class SeedError(ValidationFailed):
    code = "seed_invalid"


def seed_error(file: Path, field: str, message: str) -> SeedError:
    return SeedError(f"{file.name}: {field}: {message}", field_errors={f"{file.name}:{field}": [message]})


def read_seed_list(path: Path, name: str) -> list:
    """The `name` list of a seed file that must exist and be an object holding that list."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise seed_error(path, "(file)", "is missing") from None
    except json.JSONDecodeError as error:
        raise seed_error(path, f"line {error.lineno}", f"invalid JSON ({error.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get(name), list):
        raise seed_error(path, name, f"the file must be an object with a '{name}' list")
    return data[name]

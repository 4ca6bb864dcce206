"""Model instances from one hand-written statement that joins several tables.

For hot paths only (the event delivery claim), where one round trip matters more than the ORM's
query building: `columns()` lists a model's concrete columns in field order, and `instances()` cuts a
result row back into model instances, applying each field's database converters (JSON, encrypted
fields) as the ORM would.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Model


def columns(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def instances(row: tuple, *models: type[Model]) -> list[Model | None]:
    """One instance per model, in order; None for a model whose columns are all NULL (outer join)."""
    found: list[Model | None] = []
    start = 0
    for model in models:
        fields = model._meta.concrete_fields
        values = row[start : start + len(fields)]
        start += len(fields)
        if all(value is None for value in values):
            found.append(None)
            continue
        converted = [_converted(field, value) for field, value in zip(fields, values, strict=True)]
        found.append(model.from_db(connection.alias, None, converted))
    return found


def _converted(field, value):
    for converter in field.get_db_converters(connection):
        value = converter(value, field.cached_col, connection)
    return value

"""Model instances from one hand-written statement that joins several tables.

For hot paths only (the event delivery claim), where one round trip matters more than the ORM's
query building: `columns()` lists a model's concrete columns in field order, and `instances()` cuts a
result row back into model instances, applying each field's database converters (JSON, encrypted
fields) as the ORM would.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from django.db import connection
from django.db.models import Model


def columns(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def instances(row: tuple, *models: type[Model]) -> list[Model | None]:
    """One instance per model, in order; None for a model whose columns are all NULL (outer join)."""
    found: list[Model | None] = []
    start = 0
    for model in models:
        layout = _layout(model, connection.vendor)
        values = list(row[start : start + layout.width])
        start += layout.width
        if all(value is None for value in values):
            found.append(None)
            continue
        for index, field, converters in layout.converted:
            for converter in converters:
                values[index] = converter(values[index], field.cached_col, connection)
        found.append(model.from_db(connection.alias, None, values))
    return found


class _Layout(NamedTuple):
    width: int  # how many columns the model takes in the row
    converted: list  # (position, field, its database converters) for the fields that have any


@cache
def _layout(model: type[Model], vendor: str) -> _Layout:
    fields = model._meta.concrete_fields
    return _Layout(len(fields), [
        (index, field, converters)
        for index, field in enumerate(fields)
        if (converters := field.get_db_converters(connection))
    ])

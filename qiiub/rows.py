"""Hand-written statements for hot paths (the event delivery claim, terminal pulls, POS uploads),
where one round trip matters more than the ORM's query building.

`columns()` lists a model's concrete columns in field order, and `instances()` cuts a result row
back into model instances, applying each field's database converters (JSON, encrypted fields) as
the ORM would. `insert_many()` inserts many rows in one short statement; `pipelined()` sends
statements without waiting for each answer.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cache
from typing import NamedTuple

import psycopg
from django.db import connection
from django.db.models import Model

Part = type[Model] | tuple[type[Model], tuple[str, ...]]  # a model, or a model and the attnames read of it


def columns(model: type[Model], alias: str, only: tuple[str, ...] | None = None) -> str:
    """The model's columns in field order (those of `only`, attnames, if given: the rest deferred)."""
    return ", ".join(f'{alias}."{field.column}"' for field in _fields(model, only))


def _fields(model: type[Model], only: tuple[str, ...] | None) -> list:
    fields = model._meta.concrete_fields
    return list(fields) if only is None else [field for field in fields if field.attname in only]


def instances(row: tuple, *parts: Part, built: dict | None = None) -> list[Model | None]:
    """One instance per model, in order; None for a model whose columns are all NULL (outer join).
    A part given as (model, attnames) was read with `columns(model, alias, attnames)`: its other
    fields are deferred. `built`, shared between the rows of one result, makes rows that join the
    same parent (many deliveries of one event) share one instance of it, converted once."""
    found: list[Model | None] = []
    start = 0
    for part in parts:
        model, only = part if isinstance(part, tuple) else (part, None)
        layout = _layout(model, only, connection.vendor)
        values = list(row[start : start + layout.width])
        start += layout.width
        if all(value is None for value in values):
            found.append(None)
            continue
        key = (model, values[layout.pk_index])
        if built is not None and key in built:
            found.append(built[key])
            continue
        for index, field, converters in layout.converted:
            for converter in converters:
                values[index] = converter(values[index], field.cached_col, connection)
        instance = model.from_db(connection.alias, layout.names, values)
        if built is not None:
            built[key] = instance
        found.append(instance)
    return found


class _Layout(NamedTuple):
    width: int  # how many columns the model takes in the row
    converted: list  # (position, field, its database converters) for the fields that have any
    pk_index: int  # where the primary key is among them
    names: list[str] | None  # the attnames read, when not all of them


@cache
def _layout(model: type[Model], only: tuple[str, ...] | None, vendor: str) -> _Layout:
    fields = _fields(model, only)
    return _Layout(len(fields), [
        (index, field, converters)
        for index, field in enumerate(fields)
        if (converters := field.get_db_converters(connection))
    ], fields.index(model._meta.pk), None if only is None else [field.attname for field in fields])


def insert_many(model: type[Model], columns: tuple[str, ...], rows: list[tuple], *, suffix: str = "") -> list[tuple]:
    """INSERT every row in one statement of one array per column (`unnest`): the statement stays a
    few hundred characters however many rows it carries, so the driver does not parse thousands of
    placeholders. `suffix` is appended ("ON CONFLICT … RETURNING …"); returned rows come back."""
    if not rows:
        return []
    # Binary parameters (%b): the arrays travel as values beside the statement, not as quoted
    # text that the driver would escape character by character (JSON payloads are full of quotes).
    arrays = ", ".join(f"%b::{column_type}[]" for column_type in _column_types(model, columns))
    with connection.cursor(), connection.wrap_database_errors:  # the first sets the tenant's search path
        with psycopg.Cursor(connection.connection) as cursor:  # server-side binding, unlike Django's cursors
            cursor.execute(
                f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {suffix}",
                [list(values) for values in zip(*rows, strict=True)],
            )
            return cursor.fetchall() if "RETURNING" in suffix else []


@cache
def _column_types(model: type[Model], columns: tuple[str, ...]) -> list[str]:
    fields = {field.column: field for field in model._meta.concrete_fields}
    return [fields[column].db_type(connection) for column in columns]


@contextmanager
def pipelined():
    """Statements go out without waiting for each answer (psycopg's pipeline mode); only reading
    results (a RETURNING) waits. A sale's children rows and its outbox row travel in one round trip."""
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield

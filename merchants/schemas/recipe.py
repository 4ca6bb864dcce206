"""The SQL that rebuilds a schema, read from PostgreSQL's catalog: its functions, tables (columns,
identities, constraints with their names), indexes, triggers, rows and sequence positions.

The statements name nothing by its schema: they run with `search_path` set to the new schema only,
so each object lands there, while a reference to a shared table still reads `public.…` (PostgreSQL
qualifies any name not on the search path when it prints a definition). A schema holding anything
else (views, types, policies, comments…) is refused rather than copied in part.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from qiiub.errors import ApplicationError

# Reading the catalog per schema: pg_class has no index on the namespace alone, so every query
# names the schema's oid once and PostgreSQL scans pg_class once per statement (a few ms even at
# 10,000 schemas, paid only when the template is rebuilt).
UNSUPPORTED_OBJECTS = """
SELECT 'relation ' || relname || ' of kind ' || relkind::text FROM pg_class
 WHERE relnamespace = %(schema)s::regnamespace AND relkind NOT IN ('r', 'i', 'S')
UNION ALL
SELECT 'privileges or row-level security on ' || relname FROM pg_class
 WHERE relnamespace = %(schema)s::regnamespace AND (relrowsecurity OR relacl IS NOT NULL)
UNION ALL
SELECT 'type ' || typname FROM pg_type t
 WHERE typnamespace = %(schema)s::regnamespace AND typtype <> 'b' AND typrelid = 0
UNION ALL
SELECT 'routine ' || proname FROM pg_proc WHERE pronamespace = %(schema)s::regnamespace AND prokind <> 'f'
UNION ALL
SELECT 'comment on ' || c.relname FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
 WHERE d.classoid = 'pg_class'::regclass AND c.relnamespace = %(schema)s::regnamespace
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
 WHERE c.relnamespace = %(schema)s::regnamespace
"""

FUNCTIONS = """
SELECT quote_ident(%(schema)s) || '.' || quote_ident(p.proname), quote_ident(p.proname), pg_get_functiondef(p.oid)
  FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace ORDER BY p.proname, p.oid
"""

TABLES = """
SELECT c.oid, quote_ident(c.relname), c.relpersistence = 'u',
       coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '')
  FROM pg_class c WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'r' ORDER BY c.relname
"""

COLUMNS = """
SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
       CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END,
       a.attnotnull, a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

# Identity columns, with the sequence behind each (its name and options).
IDENTITIES = """
SELECT t.oid, a.attnum, a.attidentity, quote_ident(s.relname),
       q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle
  FROM pg_depend dep
  JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S'
  JOIN pg_sequence q ON q.seqrelid = s.oid
  JOIN pg_class t ON t.oid = dep.refobjid
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
 WHERE dep.classid = 'pg_class'::regclass AND dep.deptype = 'i' AND s.relnamespace = %(schema)s::regnamespace
"""

# Sequences that are not an identity's: created as such, owned by their column when they are.
SEQUENCES = """
SELECT quote_ident(s.relname), format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin, q.seqmax,
       q.seqcache, q.seqcycle, quote_ident(t.relname) || '.' || quote_ident(a.attname)
  FROM pg_class s
  JOIN pg_sequence q ON q.seqrelid = s.oid
  LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = s.oid AND dep.deptype = 'a'
  LEFT JOIN pg_class t ON t.oid = dep.refobjid
  LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
 WHERE s.relnamespace = %(schema)s::regnamespace AND s.relkind = 'S'
   AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_class'::regclass AND i.objid = s.oid
                   AND i.deptype = 'i')
 ORDER BY s.relname
"""

# Inside CREATE TABLE, but foreign keys after every table: each references a key that exists by then.
CONSTRAINTS = """
SELECT c.oid, k.contype = 'f', quote_ident(c.relname), quote_ident(k.conname), pg_get_constraintdef(k.oid)
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.connamespace = %(schema)s::regnamespace AND k.contype IN ('c', 'p', 'u', 'x', 'f')
 ORDER BY k.contype = 'f', c.relname, k.conname
"""

# Indexes of their own (a primary key's or a unique constraint's comes with the constraint).
INDEXES = """
SELECT quote_ident(%(schema)s) || '.' || quote_ident(c.relname), quote_ident(c.relname), pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
 WHERE ic.relnamespace = %(schema)s::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
 ORDER BY ic.relname
"""

TRIGGERS = """
SELECT quote_ident(%(schema)s) || '.' || quote_ident(c.relname), quote_ident(c.relname), quote_ident(g.tgname),
       pg_get_triggerdef(g.oid), g.tgenabled
  FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE c.relnamespace = %(schema)s::regnamespace AND NOT g.tgisinternal
 ORDER BY c.relname, g.tgname
"""

# The rows a new schema starts with (django_migrations, content types), as literal JSON, so a
# clone never reads the template itself and cannot see it half-migrated.
ROWS = """
SELECT format('INSERT INTO %%I (%%s) OVERRIDING SYSTEM VALUE SELECT %%s FROM json_populate_recordset(NULL::%%I, %%L)',
              %(table)s, %(columns)s, %(columns)s, %(table)s, (SELECT json_agg(r) FROM {table} r))
 WHERE EXISTS (SELECT 1 FROM {table})
"""


class SchemaNotClonable(ApplicationError):
    code = "schema_not_clonable"
    http_status = 500


def schema_recipe(schema: str) -> str:
    """The statements that rebuild `schema` (structure, rows, sequence positions) in whichever
    schema is first on the search path."""
    with transaction.atomic(), connection.cursor() as cursor, search_path(cursor, schema):
        cursor.execute(UNSUPPORTED_OBJECTS, {"schema": schema})
        unsupported = [name for (name,) in cursor.fetchall()]
        if unsupported:
            raise SchemaNotClonable(f"Schema {schema} holds what a clone would not copy: {', '.join(unsupported)}")
        sequences, ownerships = _sequences(cursor, schema)
        statements = ["SET LOCAL check_function_bodies = false", *_functions(cursor, schema), *sequences]
        tables, foreign_keys = _tables(cursor, schema)
        statements += [*tables.values(), *ownerships, *foreign_keys]
        cursor.execute(INDEXES, {"schema": schema})
        statements += [_unqualified(definition, qualified, table) for qualified, table, definition in cursor.fetchall()]
        statements += _triggers(cursor, schema)
        statements += _rows(cursor, schema, tables)
        statements += _sequence_positions(cursor, schema)
    return ";\n".join(statements) + ";\n"


@contextmanager
def search_path(cursor, schema: str) -> Iterator[None]:
    """Only `schema` on the search path, until the block ends (inside a transaction)."""
    cursor.execute("SELECT current_setting('search_path')")
    (previous,) = cursor.fetchone()
    cursor.execute("SELECT set_config('search_path', quote_ident(%s), true)", [schema])
    yield
    cursor.execute("SELECT set_config('search_path', %s, true)", [previous])


def _unqualified(definition: str, qualified: str, table: str) -> str:
    """An index's or trigger's definition names its table with the schema: drop the schema."""
    return definition.replace(f" ON {qualified} ", f" ON {table} ", 1)


def _functions(cursor, schema: str) -> list[str]:
    cursor.execute(FUNCTIONS, {"schema": schema})
    return [definition.replace(qualified, name, 1) for qualified, name, definition in cursor.fetchall()]


def _tables(cursor, schema: str) -> tuple[dict[int, str], list[str]]:
    """Each table's CREATE TABLE (columns, identities, constraints but foreign keys), and the
    foreign keys."""
    cursor.execute(IDENTITIES, {"schema": schema})
    identities = {
        (table_oid, number): f" GENERATED {'ALWAYS' if kind == 'a' else 'BY DEFAULT'} AS IDENTITY "
                             f"(SEQUENCE NAME {sequence} {_sequence_options(None, *options)})"
        for table_oid, number, kind, sequence, *options in cursor.fetchall()
    }
    cursor.execute(COLUMNS, {"schema": schema})
    elements: dict[int, list[str]] = {}
    for table_oid, number, name, type_name, collation, not_null, generated, default in cursor.fetchall():
        column = f"{name} {type_name}{collation}{identities.get((table_oid, number), '')}"
        if generated == "s":
            column += f" GENERATED ALWAYS AS ({default}) STORED"
        elif default is not None:
            column += f" DEFAULT {default}"
        elements.setdefault(table_oid, []).append(column + (" NOT NULL" if not_null else ""))
    cursor.execute(CONSTRAINTS, {"schema": schema})
    foreign_keys = []
    for table_oid, foreign, table, name, definition in cursor.fetchall():
        if foreign:
            foreign_keys.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        else:
            elements.setdefault(table_oid, []).append(f"CONSTRAINT {name} {definition}")
    cursor.execute(TABLES, {"schema": schema})
    tables = {
        table_oid: f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {name} ({', '.join(elements.get(table_oid, []))}){options}"
        for table_oid, name, unlogged, options in cursor.fetchall()
    }
    return tables, foreign_keys


def _sequence_options(type_name, start, increment, minimum, maximum, cache, cycle) -> str:
    """An identity's sequence takes its column's type (`type_name` None)."""
    return (f"{f'AS {type_name} ' if type_name else ''}START WITH {start} INCREMENT BY {increment} "
            f"MINVALUE {minimum} MAXVALUE {maximum} CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}")


def _sequences(cursor, schema: str) -> tuple[list[str], list[str]]:
    """Sequences of their own (before the tables, whose defaults may call them), and their owners
    (after)."""
    cursor.execute(SEQUENCES, {"schema": schema})
    creations, ownerships = [], []
    for name, *options, owner in cursor.fetchall():
        creations.append(f"CREATE SEQUENCE {name} {_sequence_options(*options)}")
        if owner:
            ownerships.append(f"ALTER SEQUENCE {name} OWNED BY {owner}")
    return creations, ownerships


def _triggers(cursor, schema: str) -> list[str]:
    cursor.execute(TRIGGERS, {"schema": schema})
    statements = []
    for qualified, table, name, definition, enabled in cursor.fetchall():
        statements.append(_unqualified(definition, qualified, table))
        if enabled == "D":
            statements.append(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
    return statements


def _rows(cursor, schema: str, tables: dict[int, str]) -> list[str]:
    cursor.execute(
        "SELECT c.relname, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
        "WHERE c.oid = ANY(%s) GROUP BY c.relname ORDER BY c.relname",
        [list(tables)],
    )
    statements = []
    for table, columns in cursor.fetchall():
        cursor.execute(ROWS.format(table=connection.ops.quote_name(schema) + "." + connection.ops.quote_name(table)),
                       {"table": table, "columns": columns})
        statements += [insert for (insert,) in cursor.fetchall()]
    return statements


def _sequence_positions(cursor, schema: str) -> list[str]:
    cursor.execute("SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'S' "
                   "ORDER BY relname", [schema])
    statements = []
    for (sequence,) in cursor.fetchall():
        cursor.execute(f"SELECT last_value, is_called FROM {connection.ops.quote_name(schema)}.{sequence}")
        last_value, is_called = cursor.fetchone()
        statements.append(f"SELECT setval('{sequence}', {last_value}, {'true' if is_called else 'false'})")
    return statements

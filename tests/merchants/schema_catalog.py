"""A schema as PostgreSQL's catalog describes it, with the schema's own name taken out, so that a
merchant's schema built from the template can be compared with one built by running the migrations."""

from __future__ import annotations

from django.db import connection

RELATIONS = """
SELECT c.relname, c.relkind::text, c.relpersistence::text, coalesce(array_to_string(c.reloptions, ','), '')
  FROM pg_class c WHERE c.relnamespace = %(schema)s::regnamespace
"""
COLUMNS = """
SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
       format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity::text, a.attgenerated::text,
       pg_get_expr(d.adbin, d.adrelid), a.attcollation::regcollation::text
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind = 'r'
"""
CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.connamespace = %(schema)s::regnamespace
"""
INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE ic.relnamespace = %(schema)s::regnamespace
"""
TRIGGERS = """
SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled::text
  FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE c.relnamespace = %(schema)s::regnamespace AND NOT g.tgisinternal
"""
FUNCTIONS = """
SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace
"""
SEQUENCES = """
SELECT s.relname, format_type(q.seqtypid, NULL), q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache,
       q.seqcycle, dep.deptype::text, t.relname, a.attname
  FROM pg_class s JOIN pg_sequence q ON q.seqrelid = s.oid
  LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = s.oid AND dep.deptype IN ('a', 'i')
  LEFT JOIN pg_class t ON t.oid = dep.refobjid
  LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = dep.refobjsubid
 WHERE s.relnamespace = %(schema)s::regnamespace
"""


def schema_signature(schema: str) -> dict[str, object]:
    """Tables, columns (in order), constraints, indexes, triggers, functions, sequences (with their
    positions), the migrations recorded, the content types and every table's row count."""
    signature: dict[str, object] = {}
    with connection.cursor() as cursor:
        for part, query in (("relations", RELATIONS), ("columns", COLUMNS), ("constraints", CONSTRAINTS),
                            ("indexes", INDEXES), ("triggers", TRIGGERS), ("functions", FUNCTIONS),
                            ("sequences", SEQUENCES)):
            cursor.execute(query, {"schema": schema})
            signature[part] = sorted(tuple(_anonymous(value, schema) for value in row) for row in cursor.fetchall())
        quoted = connection.ops.quote_name(schema)
        positions, counts = [], []
        for name, kind, *_rest in signature["relations"]:
            if kind == "S":
                cursor.execute(f"SELECT last_value, is_called FROM {quoted}.{connection.ops.quote_name(name)}")
                positions.append((name, *cursor.fetchone()))
            elif kind == "r":
                cursor.execute(f"SELECT count(*) FROM {quoted}.{connection.ops.quote_name(name)}")
                counts.append((name, cursor.fetchone()[0]))
        signature["sequence_positions"], signature["row_counts"] = positions, counts
        cursor.execute(f"SELECT app, name FROM {quoted}.django_migrations")
        signature["migrations"] = sorted(cursor.fetchall())
        cursor.execute(f"SELECT app_label, model FROM {quoted}.django_content_type")
        signature["content_types"] = sorted(cursor.fetchall())
    return signature


def _anonymous(value, schema: str):
    return value.replace(f"{schema}.", "<schema>.") if isinstance(value, str) else value

"""`migrate_schemas` at thousands of schemas: only the schemas behind are migrated.

django-tenants runs Django's `migrate` in every schema, and each run loads the whole migration
graph, so a no-op costs tens of milliseconds per schema. This executor (settings
GET_EXECUTOR_FUNCTION) first reads every schema's `django_migrations` in a few queries, skips the
schemas that already hold every migration of the code, and hands the rest to the executor chosen
(`--executor=multiprocessing` migrates them in parallel). Migrating the public schema also
migrates the template schema and rebuilds the SQL new merchants are built from when the
migrations changed, so `migrate_schemas --shared` alone readies a new database for merchants.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import connection
from django_tenants.migration_executors import get_executor
from django_tenants.migration_executors.base import MigrationExecutor
from django_tenants.utils import get_public_schema_name

from merchants.models import SchemaTemplate
from merchants.schemas.template import (
    SchemaTemplateStale,
    latest_migrations,
    migration_fingerprint,
    template_rebuild,
    template_schema_ensure,
)

# Schemas read per query: one UNION ALL over this many django_migrations tables stays a small plan.
SCHEMAS_PER_QUERY = 500


def schemas_behind(schemas: list[str], migrations: set[tuple[str, str]] | None = None) -> list[str]:
    """The schemas, in the order given, missing any of `migrations` (default: all of the code's) in
    their django_migrations, or without that table or without the schema itself."""
    migrations = migrations or latest_migrations()
    apps, names = zip(*sorted(migrations), strict=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)",
                       [list(schemas)])
        recorded = [schema for (schema,) in cursor.fetchall()]
        current = set()
        for start in range(0, len(recorded), SCHEMAS_PER_QUERY):
            batch = recorded[start:start + SCHEMAS_PER_QUERY]
            # DISTINCT: a row recorded twice must not stand in for a missing one.
            union = " UNION ALL ".join(
                f"SELECT %s AS schema, app, name FROM {connection.ops.quote_name(schema)}.django_migrations"
                for schema in batch)
            cursor.execute(
                f"SELECT schema FROM ({union}) m WHERE (app, name) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
                "GROUP BY schema HAVING count(DISTINCT (app, name)) = %s",
                [*batch, list(apps), list(names), len(migrations)])
            current.update(schema for (schema,) in cursor.fetchall())
    return [schema for schema in schemas if schema not in current]


def migration_executor(codename: str | None = None) -> type[MigrationExecutor]:
    return _skipping_current(get_executor(codename))


@functools.cache
def _skipping_current(executor: type[MigrationExecutor]) -> type[MigrationExecutor]:
    class SkippingCurrentSchemas(executor):
        def run_migrations(self, tenants=None):
            tenants = list(tenants or [])
            if not self._skip_is_sound():
                return super().run_migrations(tenants=tenants)
            if get_public_schema_name() in tenants:
                super().run_migrations(tenants=tenants)
                return self._template_migrate()
            behind = schemas_behind(tenants)
            self._report(f"Merchant schemas at the latest migration, skipped: {len(tenants) - len(behind)}. "
                         f"Behind, migrated: {len(behind)}" + (f" ({_listed(behind)})" if behind else ""))
            if behind:
                super().run_migrations(tenants=behind)

        def _template_migrate(self) -> None:
            """With the public schema, the template new merchants are built from: migrated when
            behind, its SQL rebuilt when the migrations changed."""
            migrations = latest_migrations()
            template = template_schema_ensure()
            if schemas_behind([template], migrations):
                self._report(f"Merchant schema template {template}: behind, migrated")
                super().run_migrations(tenants=[template])
            if _template_refresh(migrations):
                self._report(f"Merchant schema template {template}: SQL for new merchants rebuilt")

        def _skip_is_sound(self) -> bool:
            """Skipping serves a migration to the latest state only: a named target (a rollback),
            --prune or --fake-initial go to every schema as asked."""
            return not (self.options.get("app_label") or self.options.get("prune")
                        or self.options.get("fake_initial"))

        def _report(self, line: str) -> None:
            if int(self.options.get("verbosity", 1)) >= 1:
                print(line, flush=True)

    SkippingCurrentSchemas.codename = executor.codename
    return SkippingCurrentSchemas


def _listed(schemas: list[str], shown: int = 20) -> str:
    return ", ".join(schemas[:shown]) + (" …" if len(schemas) > shown else "")


def _template_refresh(migrations: set[tuple[str, str]]) -> bool:
    """Rebuild the new-merchant SQL when the template's migrations changed (or it was never built);
    True when rebuilt."""
    fingerprint = migration_fingerprint(migrations)
    if SchemaTemplate.objects.filter(pk=1, migration_fingerprint=fingerprint).exists():
        return False
    if schemas_behind([settings.MERCHANT_SCHEMA_TEMPLATE], migrations):
        raise SchemaTemplateStale(f"The template schema {settings.MERCHANT_SCHEMA_TEMPLATE} is not at the latest migration")
    template_rebuild(fingerprint=fingerprint)
    return True

"""The merchant schema template: a schema kept at the latest migration by `migrate_schemas`, read
once per migration change into the SQL that builds a new merchant's schema (`SchemaTemplate`).

A new schema costs that SQL alone, however many migrations the project has and however many
schemas exist. The stored SQL carries the migration fingerprint it was built at; a process whose
migrations differ (the template not rebuilt yet, or code older than the database) refuses to
build schemas from it instead of building one that `migrate_schemas` would then misread.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import gettext
from django_tenants.postgresql_backend.base import is_valid_schema_name

from merchants.models import SchemaTemplate
from merchants.schemas.recipe import schema_recipe, search_path
from qiiub.errors import ApplicationError, ValidationFailed

logger = logging.getLogger(__name__)


class SchemaTemplateStale(ApplicationError):
    code = "schema_template_stale"
    http_status = 503


def latest_migrations() -> set[tuple[str, str]]:
    """Every migration of the code (shared apps' too: a tenant schema records them all)."""
    return set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def migration_fingerprint(migrations: set[tuple[str, str]] | None = None) -> str:
    names = sorted(f"{app}.{name}" for app, name in (migrations or latest_migrations()))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def template_schema_ensure() -> str:
    """The template schema's name, the schema created (empty, for the migration to fill) if missing."""
    name = settings.MERCHANT_SCHEMA_TEMPLATE
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {connection.ops.quote_name(name)}")
    return name


def template_rebuild(*, fingerprint: str) -> SchemaTemplate:
    """Read the migrated template schema into the stored SQL, marked with `fingerprint`."""
    statements = schema_recipe(settings.MERCHANT_SCHEMA_TEMPLATE)
    template, _created = SchemaTemplate.objects.update_or_create(
        pk=1, defaults={"migration_fingerprint": fingerprint, "statements": statements})
    logger.info("schema_template.rebuilt", extra={"fingerprint": fingerprint[:12], "bytes": len(statements)})
    return template


def schema_clone(schema_name: str) -> None:
    """Create `schema_name` as the template stands, inside the caller's transaction (so a failure
    later in it leaves no schema). Refuses when the template is missing or not at the code's migrations."""
    if not is_valid_schema_name(schema_name):
        raise ValidationFailed(gettext("%(name)s cannot name a merchant's schema: use letters, digits and underscores.")
                               % {"name": schema_name[:63]}, code="invalid_schema_name")
    template = SchemaTemplate.objects.filter(pk=1).first()
    if template is None or template.migration_fingerprint != migration_fingerprint():
        raise SchemaTemplateStale(gettext(
            "New merchants cannot be created until the database is migrated to this version "
            "(manage.py migrate_schemas). Try again in a few minutes."))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {connection.ops.quote_name(schema_name)}")
        with search_path(cursor, schema_name):
            cursor.execute(template.statements)

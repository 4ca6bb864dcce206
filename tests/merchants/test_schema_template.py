"""Merchant schemas at scale: a new merchant's schema is built from the template schema (the same
schema the migrations build, in one transaction), and `migrate_schemas` migrates only the schemas
behind the code's migrations."""

import re
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_context, schema_exists

from merchants.models import Merchant, SchemaTemplate
from merchants.schemas.migrate import schemas_behind
from merchants.schemas.recipe import SchemaNotClonable, schema_recipe
from merchants.schemas.template import SchemaTemplateStale
from merchants.services import merchant_create
from merchants.store.models import Sale
from pharmacy.store.models import PhiAccess
from tests.devices.conftest import enrolled, sale_record
from tests.factories import run_concurrently
from tests.merchants.schema_catalog import schema_signature


def migrate_schemas(process_env: dict, *arguments: str) -> str:
    """Run `manage.py migrate_schemas` as an operator would, against the test database."""
    finished = subprocess.run([sys.executable, "manage.py", "migrate_schemas", *arguments], env=process_env,
                              cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return finished.stdout


def new_slug() -> str:
    return f"tpl-{uuid.uuid4().hex[:8]}"


def create_store(slug: str) -> Merchant:
    return merchant_create(name=f"Store {slug}", slug=slug, vertical="retail", locations=[("L1", "Main", "Ponce")])


def drop_merchants(merchants) -> None:
    for merchant in merchants:
        Merchant.objects.filter(pk=merchant.pk).delete()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(merchant.schema_name)} CASCADE")


@pytest.fixture(scope="module")
def migrated_schema(process_env, django_db_blocker):
    """A schema built the slow way: created empty, then migrated by migrate_schemas."""
    name = f"migrated_{uuid.uuid4().hex[:6]}"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {name}")
    migrate_schemas(process_env, "--schema", name)
    yield name
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def made_here(committed):
    """Merchants a test creates outside a test transaction, removed with their schemas afterwards."""
    merchants: list[Merchant] = []
    yield merchants
    drop_merchants(merchants)


def test_a_merchant_built_from_the_template_has_the_schema_the_migrations_build_and_takes_a_sale(db, migrated_schema):
    # given a merchant created the fast way
    merchant = create_store(new_slug())

    # then its schema is the migrated one, object for object, row for row
    assert schema_signature(merchant.schema_name) == schema_signature(migrated_schema)
    # and a register's sale lands in it
    terminal = enrolled(merchant.locations.get())
    record = sale_record()
    answer = terminal.client.post("/api/pos/v1/uploads", {"records": [record]}, format="json")
    assert [result["status"] for result in answer.json()["results"]] == ["stored"]
    with schema_context(merchant.schema_name):
        assert [str(sale) for sale in Sale.objects.values_list("client_uuid", flat=True)] == [record["client_uuid"]]


def test_the_pharmacy_access_log_of_a_new_merchant_stays_append_only(db):
    # given a merchant's schema built from the template, with one PHI access recorded
    merchant = create_store(new_slug())
    with schema_context(merchant.schema_name):
        access = PhiAccess.objects.create(actor_kind="system", actor_label="test", action="read", resource="ready_list")

        # when anyone changes it, the trigger the clone carries refuses
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            PhiAccess.objects.filter(pk=access.pk).update(count=2)


def test_two_merchants_created_at_the_same_instant_each_get_a_whole_schema(made_here):
    slugs = [new_slug(), new_slug()]

    created = run_concurrently(lambda: create_store(slugs.pop()))

    made_here.extend(merchant for merchant in created if isinstance(merchant, Merchant))
    assert len(made_here) == 2, created
    template = schema_signature(settings.MERCHANT_SCHEMA_TEMPLATE)
    assert all(schema_signature(merchant.schema_name) == template for merchant in made_here)


def test_a_failure_midway_through_creating_a_merchant_leaves_no_schema_and_no_merchant(made_here):
    slug = new_slug()

    with pytest.raises(IntegrityError):  # the second location repeats the first one's code
        merchant_create(name="Twice L1", slug=slug, vertical="retail",
                        locations=[("L1", "Main", "Ponce"), ("L1", "Again", "Ponce")])

    made_here.extend(Merchant.objects.filter(slug=slug))
    assert made_here == []
    assert not schema_exists(f"m_{slug.replace('-', '_')}")


def test_a_template_behind_the_code_migrations_refuses_to_create_merchants_and_says_what_to_run(db):
    SchemaTemplate.objects.update(migration_fingerprint="0" * 64)
    slug = new_slug()

    with pytest.raises(SchemaTemplateStale, match="migrate_schemas"):
        create_store(slug)

    assert not Merchant.objects.filter(slug=slug).exists()
    assert not schema_exists(f"m_{slug.replace('-', '_')}")


def test_a_schema_missing_a_migration_is_behind_even_when_another_is_recorded_twice(db):
    # given two merchants: one intact, one whose last migration row is replaced by a copy of another
    intact, tampered = create_store(new_slug()), create_store(new_slug())
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {tampered.schema_name}.django_migrations WHERE id = "
                       f"(SELECT max(id) FROM {tampered.schema_name}.django_migrations)")
        cursor.execute(f"INSERT INTO {tampered.schema_name}.django_migrations (app, name, applied) "
                       f"SELECT app, name, applied FROM {tampered.schema_name}.django_migrations LIMIT 1")

    # then only the tampered one, a schema without tables and a missing schema are behind
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA empty_for_test")
    asked = [intact.schema_name, tampered.schema_name, "empty_for_test", "no_such_schema"]
    assert schemas_behind(asked) == [tampered.schema_name, "empty_for_test", "no_such_schema"]


def test_a_schema_holding_what_a_clone_would_not_copy_is_refused_as_a_template(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA with_view; CREATE TABLE with_view.t (id int); "
                       "CREATE VIEW with_view.v AS SELECT id FROM with_view.t")

    with pytest.raises(SchemaNotClonable, match="relation v of kind v"):
        schema_recipe("with_view")


def _previous_migration(app: str) -> tuple[str, str]:
    """The app's last migration and the one before it (what rolling it back goes to)."""
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes(app)
    parents = [parent.key[1] for parent in graph.node_map[leaf].parents if parent.key[0] == app]
    return leaf[1], (parents[0] if parents else "zero")


@pytest.mark.slow
def test_migrate_schemas_migrates_the_public_schema_and_only_the_merchant_schemas_behind(made_here, process_env):
    # given a merchant at the latest migration, one rolled back one migration, one with an empty schema
    current, behind, fresh_slug = create_store(new_slug()), create_store(new_slug()), new_slug()
    fresh = Merchant.objects.create(name="Fresh", slug=fresh_slug, schema_name=f"m_{fresh_slug.replace('-', '_')}",
                                    vertical="retail")
    made_here.extend([current, behind, fresh])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {fresh.schema_name}")
    last, previous = _previous_migration("pharmacy_store")
    migrate_schemas(process_env, "--schema", behind.schema_name, "pharmacy_store", previous)
    assert (("pharmacy_store", last) not in schema_signature(behind.schema_name)["migrations"])
    SchemaTemplate.objects.all().delete()  # and the SQL new merchants are built from, lost

    # when the operator migrates everything
    output = migrate_schemas(process_env, "--executor=multiprocessing")

    # then the public schema was migrated, and of the merchants only the two behind
    assert "[multiprocessing:public] === Starting migration" in output
    migrated = re.search(r"Behind, migrated: 2 \((.*)\)", output)
    assert migrated and set(migrated.group(1).split(", ")) == {behind.schema_name, fresh.schema_name}, output
    with_schemas = [schema for schema in Merchant.objects.values_list("schema_name", flat=True) if schema_exists(schema)]
    assert f"Merchant schemas at the latest migration, skipped: {len(with_schemas) - 2}." in output
    assert "SQL for new merchants rebuilt" in output
    # each now as the template stands, and the template's SQL rebuilt
    template = schema_signature(settings.MERCHANT_SCHEMA_TEMPLATE)
    assert schema_signature(fresh.schema_name) == template
    rolled_forward = schema_signature(behind.schema_name)  # its migration rows were numbered once more
    assert {**rolled_forward, "sequence_positions": None} == {**template, "sequence_positions": None}
    made_here.append(create_store(new_slug()))

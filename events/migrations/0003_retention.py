from django.db import migrations, models

# Retention (ADR 0039). The index is built concurrently: a plain CREATE INDEX would stop every event
# being written while it builds. RunSQL rather than AddIndexConcurrently: that one refuses to run in
# a transaction before it asks the tenant router, and a merchant's schema is migrated inside the
# transaction that creates the merchant.
CREATE = "CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_created ON integrations_outboxevent (created_at)"
DROP = "DROP INDEX CONCURRENTLY IF EXISTS outbox_created"
# Retention deletes from these every hour: vacuum once 2 % of a table is dead (not 20 %, the
# default), so new rows reuse the space instead of the table carrying a fifth of itself dead.
TABLES = ("integrations_outboxevent", "integrations_eventdelivery", "integrations_deliveryattempt")
VACUUM_SOONER = ";".join(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.02)" for table in TABLES)
VACUUM_DEFAULT = ";".join(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor)" for table in TABLES)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('events', '0002_deliveryattempt_webhook_details'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name='outboxevent',
                    index=models.Index(fields=['created_at'], name='outbox_created'),
                ),
            ],
            database_operations=[migrations.RunSQL(CREATE, reverse_sql=DROP)],
        ),
        migrations.RunSQL(VACUUM_SOONER, reverse_sql=VACUUM_DEFAULT),
    ]

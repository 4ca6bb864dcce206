from django.db import migrations

# Retention (ADR 0039) deletes processed bodies every hour: vacuum once 2 % of the table is dead
# (not 20 %, the default), so new bodies reuse the space.
SOONER = "ALTER TABLE integrations_inboundwebhook SET (autovacuum_vacuum_scale_factor = 0.02)"
DEFAULT = "ALTER TABLE integrations_inboundwebhook RESET (autovacuum_vacuum_scale_factor)"


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0002_disabled_reason_codes'),
    ]

    operations = [
        migrations.RunSQL(SOONER, reverse_sql=DEFAULT),
    ]


import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('integrations', '0011_events_and_webhooks_apps'),
        ('merchants', '0004_alter_merchant_time_zone'),
    ]

    # The webhook models, moved from the integrations app with their tables (integrations_*):
    # the tables exist already, so only Django's state records them here.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=500)),
                        ('description', models.CharField(blank=True, max_length=200)),
                        ('event_types', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=40), size=None)),
                        ('enabled', models.BooleanField(default=True)),
                        ('disabled_reason', models.CharField(blank=True, max_length=200)),
                        ('secret_vault_key', models.CharField(max_length=200)),
                        ('previous_secret_vault_key', models.CharField(blank=True, max_length=200)),
                        ('previous_secret_expires_at', models.DateTimeField(blank=True, null=True)),
                        ('failing_since', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to='merchants.merchant')),
                    ],
                    options={
                        'db_table': 'integrations_webhookendpoint',
                        'ordering': ['created_at', 'id'],
                    },
                ),
                migrations.CreateModel(
                    name='InboundWebhook',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('vendor_webhook_id', models.CharField(max_length=120)),
                        ('topic', models.CharField(max_length=80)),
                        ('body', models.TextField()),
                        ('status', models.CharField(choices=[('received', 'Received'), ('processed', 'Processed'), ('failed', 'Failed')], default='received', max_length=10)),
                        ('error', models.TextField(blank=True)),
                        ('received_at', models.DateTimeField(auto_now_add=True)),
                        ('processed_at', models.DateTimeField(blank=True, null=True)),
                        ('merchant_integration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='inbound_webhooks', to='integrations.merchantintegration')),
                    ],
                    options={
                        'db_table': 'integrations_inboundwebhook',
                        'constraints': [models.UniqueConstraint(fields=('merchant_integration', 'vendor_webhook_id'), name='inbound_unique_vendor_id')],
                    },
                ),
            ],
        ),
    ]

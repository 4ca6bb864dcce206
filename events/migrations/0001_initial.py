import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('integrations', '0011_events_and_webhooks_apps'),
        ('merchants', '0004_alter_merchant_time_zone'),
        ('webhooks', '0001_initial'),
    ]

    # The event bus models, moved from the integrations app with their tables (integrations_*),
    # constraints and indexes: they exist already, so only Django's state records them here. One
    # operation a model, so that every new merchant schema (which runs all migrations) pays little.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='OutboxEvent',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('event_type', models.CharField(max_length=40)),
                        ('payload', models.JSONField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('relayed_at', models.DateTimeField(blank=True, null=True)),
                        ('merchant', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='merchants.merchant')),
                        ('location', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to='merchants.location')),
                    ],
                    options={
                        'db_table': 'integrations_outboxevent',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(condition=models.Q(('relayed_at__isnull', True)), fields=['created_at'], name='outbox_unrelayed')],
                    },
                ),
                migrations.CreateModel(
                    name='EventDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='events.outboxevent')),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='event_deliveries', to='merchants.merchant')),
                        ('subscriber_kind', models.CharField(choices=[('integration', 'Integration connector'), ('webhook', 'Merchant webhook endpoint'), ('analytics', 'Analytics sink')], max_length=15)),
                        ('subscriber_key', models.CharField(max_length=60)),
                        ('merchant_integration', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='integrations.merchantintegration')),
                        ('webhook_endpoint', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhookendpoint')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('held', 'Held (integration paused)'), ('dead', 'Dead')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('max_attempts', models.PositiveIntegerField()),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('leased_until', models.DateTimeField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('succeeded_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'verbose_name_plural': 'event deliveries',
                        'db_table': 'integrations_eventdelivery',
                        'constraints': [models.UniqueConstraint(fields=('event', 'subscriber_key'), name='delivery_unique_per_subscriber')],
                        'indexes': [
                            models.Index(condition=models.Q(('status', 'pending')), fields=['next_attempt_at'], name='delivery_pending_due'),
                            models.Index(condition=models.Q(('status', 'succeeded'), _negated=True), fields=['merchant', 'status'], name='delivery_merchant_unsettled'),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name='DeliveryAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='events.eventdelivery')),
                        ('number', models.PositiveIntegerField()),
                        ('succeeded', models.BooleanField()),
                        ('error', models.TextField(blank=True)),
                        ('duration_ms', models.PositiveIntegerField(default=0)),
                        ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('response_excerpt', models.CharField(blank=True, max_length=300)),
                        ('attempted_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'integrations_deliveryattempt',
                        'ordering': ['-attempted_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='EventDailyCount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='event_counts', to='merchants.merchant')),
                        ('day', models.DateField()),
                        ('event_type', models.CharField(max_length=40)),
                        ('count', models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        'db_table': 'integrations_eventdailycount',
                        'constraints': [models.UniqueConstraint(fields=('merchant', 'day', 'event_type'), name='event_count_unique_day')],
                    },
                ),
            ],
        ),
    ]

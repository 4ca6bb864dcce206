from django.db import migrations

MOVED = {"events": ["outboxevent", "eventdelivery", "deliveryattempt", "eventdailycount"],
         "webhooks": ["webhookendpoint", "inboundwebhook"]}


def content_types_follow(apps, schema_editor, from_app=None, to_app=None):
    # Permissions and admin history hang on content types: they move with their models.
    ContentType = apps.get_model("contenttypes", "ContentType")
    for app, models in MOVED.items():
        source, target = (from_app or app), (to_app or app)
        ContentType.objects.filter(app_label=source, model__in=models).update(app_label=target)


def forwards(apps, schema_editor):
    content_types_follow(apps, schema_editor, from_app="integrations")


def backwards(apps, schema_editor):
    content_types_follow(apps, schema_editor, to_app="integrations")


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0010_review_acknowledged'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    # The event bus and webhook models moved to their own apps (events, webhooks) and keep their tables:
    # only Django's record of which app owns them changes, no table is touched. Deleted from the state
    # in dependency order, one operation a model (every new merchant schema runs all migrations).
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='DeliveryAttempt'),
                migrations.DeleteModel(name='EventDelivery'),
                migrations.DeleteModel(name='EventDailyCount'),
                migrations.DeleteModel(name='OutboxEvent'),
                migrations.DeleteModel(name='InboundWebhook'),
                migrations.DeleteModel(name='WebhookEndpoint'),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]

from django.db import migrations, models

# The English sentences stored before reasons became codes (put into words when read).
SENTENCE_CODES = {
    "The receiver answered 410 Gone.": "gone",
    "Every delivery failed for 5 days.": "failing",
    "Disabled by the merchant.": "merchant",
}


def sentences_to_codes(apps, schema_editor):
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    for sentence, code in SENTENCE_CODES.items():
        WebhookEndpoint.objects.filter(disabled_reason=sentence).update(disabled_reason=code)
    WebhookEndpoint.objects.filter(enabled=False).exclude(disabled_reason__in=SENTENCE_CODES.values()).update(
        disabled_reason="merchant"
    )


def codes_to_sentences(apps, schema_editor):
    WebhookEndpoint = apps.get_model("webhooks", "WebhookEndpoint")
    for sentence, code in SENTENCE_CODES.items():
        WebhookEndpoint.objects.filter(disabled_reason=code).update(disabled_reason=sentence)


class Migration(migrations.Migration):

    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookendpoint",
            name="disabled_reason",
            field=models.CharField(
                blank=True,
                choices=[("gone", "Gone"), ("failing", "Failing"), ("merchant", "Merchant")],
                max_length=200,
            ),
        ),
        migrations.RunPython(sentences_to_codes, codes_to_sentences),
    ]

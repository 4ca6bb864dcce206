from django.contrib.postgres.fields import ArrayField
from django.db import models


class DisabledReason(models.TextChoices):
    """Why an endpoint stopped receiving; put into words by `webhooks.delivery_errors`."""

    GONE = "gone"
    FAILING = "failing"
    MERCHANT = "merchant"


class WebhookEndpoint(models.Model):
    """A merchant's own URL that receives the event types it subscribes to, signed."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=40))
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True, choices=DisabledReason.choices)
    # Signing secrets live in the vault; during a rotation the previous one signs too until it expires.
    secret_vault_key = models.CharField(max_length=200)
    previous_secret_vault_key = models.CharField(max_length=200, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "integrations_webhookendpoint"  # the table it had in the integrations app
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.merchant} → {self.url}"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


class InboundWebhook(models.Model):
    """A verified vendor webhook, stored raw before it is processed by a worker."""

    merchant_integration = models.ForeignKey(
        "integrations.MerchantIntegration", on_delete=models.CASCADE, related_name="inbound_webhooks"
    )
    vendor_webhook_id = models.CharField(max_length=120)
    topic = models.CharField(max_length=80)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "integrations_inboundwebhook"  # the table it had in the integrations app
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_integration", "vendor_webhook_id"], name="inbound_unique_vendor_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.vendor_webhook_id}"

from django.db import models


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
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_integration", "vendor_webhook_id"], name="inbound_unique_vendor_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.vendor_webhook_id}"

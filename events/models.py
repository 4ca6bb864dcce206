import uuid

from django.db import models


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the business change (transactional outbox).

    `relayed_at` is set once its deliveries exist; the sweep relays rows the on-commit relay missed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the idempotency key
    event_type = models.CharField(max_length=40)
    # No database constraint (Django still cascades): a constraint costs two row locks per event
    # at commit, on the hottest write path; a merchant and its locations outlive their events.
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="events", db_constraint=False
    )
    location = models.ForeignKey(
        "merchants.Location", null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False
    )
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "integrations_outboxevent"  # the table it had in the integrations app
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(relayed_at__isnull=True), name="outbox_unrelayed"),
            # Retention walks the events oldest first (ADR 0039): the UUID key says nothing of age.
            # Measured: about 1 µs more per event written; the admin's newest-first list uses it too.
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    HELD = "held", "Held (integration paused)"
    DEAD = "dead", "Dead"


class SubscriberKind(models.TextChoices):
    INTEGRATION = "integration", "Integration connector"
    WEBHOOK = "webhook", "Merchant webhook endpoint"
    ANALYTICS = "analytics", "Analytics sink"


class EventDelivery(models.Model):
    """One event to one subscriber: attempts, next attempt, last error, status."""

    # Indexed through the (event, subscriber_key) unique constraint, whose first column it is.
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="event_deliveries")
    subscriber_kind = models.CharField(max_length=15, choices=SubscriberKind.choices)
    # "integration:<id>" or "analytics": unique per event, so a re-relay never duplicates a delivery.
    subscriber_key = models.CharField(max_length=60)
    merchant_integration = models.ForeignKey(
        "integrations.MerchantIntegration", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    webhook_endpoint = models.ForeignKey(
        "webhooks.WebhookEndpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker holds a delivery until this time while it calls the handler (a lease, not a lock).
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "integrations_eventdelivery"  # the table it had in the integrations app
        verbose_name_plural = "event deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber_key"], name="delivery_unique_per_subscriber"),
        ]
        # Partial: nearly every delivery ends succeeded, and then leaves these indexes (fewer index
        # writes per delivered event; the sweep and the failed-delivery pages read only the rest).
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="delivery_pending_due"),
            models.Index(
                fields=["merchant", "status"], condition=~models.Q(status="succeeded"), name="delivery_merchant_unsettled"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.event_type} → {self.subscriber_key} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    succeeded = models.BooleanField()
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # Webhook receivers: their HTTP status and the start of their answer, for the delivery log.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=300, blank=True)
    # Webhook receivers, for the delivery page: what failed as a code with its parameters (put into
    # words in the reader's language), the headers we sent (signature, never the secret) and a bounded
    # excerpt of the headers they answered. db_default: the dispatcher's one-statement insert omits them.
    error_code = models.CharField(max_length=40, blank=True, db_default="")
    error_params = models.JSONField(null=True, blank=True)
    request_headers = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(null=True, blank=True)
    attempted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "integrations_deliveryattempt"  # the table it had in the integrations app
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} (delivery {self.delivery_id}): {'ok' if self.succeeded else self.error[:40]}"


class EventDailyCount(models.Model):
    """The analytics sink: events per merchant, day and type (feeds the capacity figures)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="event_counts")
    day = models.DateField()
    event_type = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "integrations_eventdailycount"  # the table it had in the integrations app
        constraints = [
            models.UniqueConstraint(fields=["merchant", "day", "event_type"], name="event_count_unique_day"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.day} {self.event_type}: {self.count}"

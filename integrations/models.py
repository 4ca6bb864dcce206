from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from qiiub.encryption import EncryptedJSONField
from qiiub.fields import OrderedJSONField
from qiiub.messages import message_text, stored_text


class Category(models.TextChoices):
    ACCOUNTING = "accounting", _("Accounting")
    PHARMACY = "pharmacy", _("Pharmacy")
    ECOMMERCE = "ecommerce", _("Ecommerce")
    ERP = "erp", _("ERP")
    TAX = "tax", _("Government / Tax")
    CRM = "crm", _("CRM")
    DELIVERY = "delivery", _("Delivery")
    ANALYTICS = "analytics", _("Analytics")
    PAYMENTS = "payments", _("Payments")
    WEBHOOKS = "webhooks", _("Webhooks")


class IntegrationType(models.TextChoices):
    CLOUD = "cloud", _("Cloud-level")
    POS = "pos", _("POS-level")


class Scope(models.TextChoices):
    GLOBAL = "global", _("Global")
    VERTICAL = "vertical", _("Vertical")


class DefinitionStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    AVAILABLE = "available", _("Available")
    DEPRECATED = "deprecated", _("Deprecated")


class SyncPattern(models.TextChoices):
    WEBHOOK_PUSH = "webhook_push", _("Webhook push")
    WEBHOOK_RECEIVE = "webhook_receive", _("Webhook receive")
    SCHEDULED_BATCH = "scheduled_batch", _("Scheduled batch")
    POLLING = "polling", _("Polling")
    FILE_EXPORT = "file_export", _("File export")
    POS_LEVEL = "pos_level", _("POS-level (local device)")


class IntegrationDefinition(models.Model):
    """A registry entry: what an integration is. Loaded from `seeds/integrations/`."""

    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    integration_type = models.CharField(max_length=10, choices=IntegrationType.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.GLOBAL)
    vertical_affinity = models.CharField(max_length=20, blank=True)
    configuration_schema = OrderedJSONField(default=dict)
    credentials_schema = OrderedJSONField(default=dict, blank=True)
    requires_oauth = models.BooleanField(default=False)
    required_module = models.ForeignKey(
        "merchants.Module", null=True, blank=True, on_delete=models.PROTECT, related_name="definitions"
    )
    status = models.CharField(max_length=12, choices=DefinitionStatus.choices, default=DefinitionStatus.PLANNED)
    sync_patterns = ArrayField(models.CharField(max_length=20, choices=SyncPattern.choices), default=list)
    per_location = models.BooleanField(default=False, help_text="One instance per location (e.g. Rx30).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Status(models.TextChoices):
    CONFIGURING = "configuring", _("Configuring")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ERROR = "error", _("Error")
    DISCONNECTED = "disconnected", _("Disconnected")


# An integration in these takes what the vendor or the bus sends it: active now, paused or erroring
# kept until it runs again.
RECEIVING_STATUSES = (Status.ACTIVE, Status.PAUSED, Status.ERROR)


class PausedReason(models.TextChoices):
    MANUAL = "manual", _("Paused by a user")
    AUTO = "auto", _("Paused after repeated failures")
    FORCED = "forced", _("Paused by QIIUB operations")


class MerchantIntegration(models.Model):
    """One merchant's installation of a definition (merchant-wide, or per location)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="integrations")
    location = models.ForeignKey(
        "merchants.Location", null=True, blank=True, on_delete=models.CASCADE, related_name="integrations"
    )
    definition = models.ForeignKey(IntegrationDefinition, on_delete=models.PROTECT, related_name="installations")
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.CONFIGURING)
    configuration = EncryptedJSONField(default=dict)
    credentials_vault_key = models.CharField(max_length=200, blank=True)
    credentials_set_at = models.DateTimeField(null=True, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    # Whether a passing test vouches for what is current (cleared by a change of settings, a pause
    # after failures…); the last test's own outcome is `last_test_error` ({} when it passed).
    last_test_ok = models.BooleanField(default=False)
    last_test_error = models.JSONField(default=dict, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    consecutive_error_count = models.PositiveIntegerField(default=0)
    sync_watermark = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    next_batch_at = models.DateTimeField(null=True, blank=True, help_text="Next scheduled batch (merchant's time zone).")
    paused_reason = models.CharField(max_length=10, choices=PausedReason.choices, blank=True)
    needs_review = models.BooleanField(default=False, help_text="10+ consecutive failures: SystemAdmin review.")
    review_acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="A SystemAdmin took this failure streak in hand; cleared by a success.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # NULL location (merchant-wide) counts as equal, so only one merchant-wide row.
            models.UniqueConstraint(
                fields=["merchant", "definition", "location"],
                nulls_distinct=False,
                name="merchant_integration_unique_per_location",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_poll_at"], name="mi_status_next_poll"),
            models.Index(fields=["status", "next_batch_at"], name="mi_status_next_batch"),
        ]

    def __str__(self) -> str:
        where = self.location.name if self.location_id else "all locations"
        return f"{self.merchant} · {self.definition.name} · {where}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_vault_key)


class IntegrationStatusTransition(models.Model):
    """Audit of every status change: who, when, from, to, why."""

    merchant_integration = models.ForeignKey(MerchantIntegration, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=15, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=15, choices=Status.choices)
    # Why, as a `qiiub.messages` code and its parameters: shown in the reader's language.
    reason_code = models.CharField(max_length=40, blank=True)
    reason_params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_status or 'not enabled'} → {self.to_status}"

    @property
    def actor_label(self) -> str:
        return self.actor.get_username() if self.actor_id else "system"

    @property
    def reason(self) -> str:
        return message_text(self.reason_code, self.reason_params)


class SyncDirection(models.TextChoices):
    PUSH = "push", _("Push")
    PULL = "pull", _("Pull")


class SyncStatus(models.TextChoices):
    SUCCESS = "success", _("Success")
    PARTIAL = "partial", _("Partial")
    FAILED = "failed", _("Failed")
    RATE_LIMITED = "rate_limited", _("Rate limited (retrying)")


class IntegrationSyncLog(models.Model):
    merchant_integration = models.ForeignKey(MerchantIntegration, on_delete=models.CASCADE, related_name="sync_logs")
    direction = models.CharField(max_length=4, choices=SyncDirection.choices)
    status = models.CharField(max_length=12, choices=SyncStatus.choices)
    records_pushed = models.PositiveIntegerField(default=0)
    records_pulled = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    error_summary = models.TextField(blank=True)  # the vendor's own words about records it refused
    # What went wrong with the run as a whole, as a `qiiub.messages` code and its parameters.
    error_message = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["merchant_integration", "-started_at"], name="synclog_mi_started")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.get_status_display()} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def summary_lines(self) -> list[str]:
        """What went wrong, in the reader's language: the run's own message, then the vendor's words."""
        lines = [stored_text(self.error_message)] if self.error_message else []
        return lines + [line for line in self.error_summary.splitlines() if line.strip()]

    @property
    def summary(self) -> str:
        return " ".join(self.summary_lines)


class IntegrationMapping(models.Model):
    """Our code ↔ the external system's code, e.g. PaymentMethod CASH → account 1000."""

    merchant_integration = models.ForeignKey(MerchantIntegration, on_delete=models.CASCADE, related_name="mappings")
    map_group = models.CharField(max_length=60)
    source_code = models.CharField(max_length=120)
    target_code = models.CharField(max_length=120)
    source_entity_type = models.CharField(max_length=60, blank=True)
    target_entity_type = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["map_group", "source_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_integration", "map_group", "source_code"], name="mapping_unique_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.map_group}: {self.source_code} → {self.target_code}"


class PostedEntry(models.Model):
    """A location's day posted to an accounting vendor: a re-run skips it, and the vendor's id says
    where to find it. The request id sent with it lets the vendor drop a repeat after a crash."""

    merchant_integration = models.ForeignKey(MerchantIntegration, on_delete=models.CASCADE, related_name="posted")
    location = models.ForeignKey("merchants.Location", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    request_id = models.CharField(max_length=50)
    vendor_id = models.CharField(max_length=60, blank=True)
    sales_count = models.PositiveIntegerField(default=0)
    posted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant_integration", "location", "day"], name="posted_entry_once")
        ]

    def __str__(self) -> str:
        return f"{self.location_id} {self.day} → {self.vendor_id}"


class ProblemKind(models.TextChoices):
    """What kind of trouble, which decides the fix the inbox offers."""

    CREDENTIALS = "credentials", _("Connection refused")
    VENDOR_DOWN = "vendor_down", _("Unreachable")
    REJECTED = "rejected", _("Data refused")
    FAILING = "failing", _("Failing")
    UNMAPPED = "unmapped", _("Codes to map")
    DEAD_DELIVERIES = "dead_deliveries", _("Deliveries stopped")
    ENDPOINT_FAILING = "endpoint_failing", _("Endpoint failing")
    SETTLEMENT = "settlement", _("Settlement differences")


class ProblemResolution(models.TextChoices):
    SUCCEEDED = "succeeded", _("A run succeeded")
    TEST_PASSED = "test_passed", _("The connection test passed")
    MAPPED = "mapped", _("The codes were mapped")
    RETRIED = "retried", _("The deliveries were sent again")
    DISCONNECTED = "disconnected", _("The integration was disconnected")
    RECONCILED = "reconciled", _("Reconciliation found the days in balance")


class Problem(models.Model):
    """One open problem of a merchant's integration (or webhook endpoint), as the Issues inbox lists
    it: its cause as a message code and parameters, when it was first and last seen, how many runs
    or deliveries it hit; closed by whatever clears its cause, and kept as history."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="problems")
    merchant_integration = models.ForeignKey(
        MerchantIntegration, null=True, blank=True, on_delete=models.CASCADE, related_name="problems")
    webhook_endpoint = models.ForeignKey(
        "webhooks.WebhookEndpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="problems")
    kind = models.CharField(max_length=20, choices=ProblemKind.choices)
    cause = models.JSONField(default=dict)  # {"code": …, "params": …} (qiiub.messages)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    occurrences = models.PositiveIntegerField(default=1)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=15, choices=ProblemResolution.choices, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_integration", "webhook_endpoint", "kind"], nulls_distinct=False,
                condition=models.Q(resolved_at__isnull=True), name="problem_open_once"),
        ]
        indexes = [
            models.Index(fields=["merchant", "-last_seen_at"], condition=models.Q(resolved_at__isnull=True),
                         name="problem_open_by_merchant"),
            models.Index(fields=["merchant", "-resolved_at"], name="problem_history"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.cause_text}"

    @property
    def cause_text(self) -> str:
        return stored_text(self.cause)

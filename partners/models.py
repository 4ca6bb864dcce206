from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Partner(models.Model):
    """A reseller or group (e.g. a pharmacy chain) that manages many merchants."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_digest_on = models.DateField(null=True, blank=True, help_text="The day its admins last got the digest.")

    def __str__(self) -> str:
        return self.name


class PartnerIntegrationTemplate(models.Model):
    """A partner's defaults for one definition, copied into a merchant integration on enable."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="integration_templates")
    definition = models.ForeignKey(
        "integrations.IntegrationDefinition", on_delete=models.PROTECT, related_name="partner_templates"
    )
    name = models.CharField(max_length=200)
    default_configuration = models.JSONField(default=dict, blank=True)
    # [{"map_group", "source_code", "target_code", "source_entity_type", "target_entity_type"}, …]
    default_mappings = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "definition", "name"], name="template_unique_name"),
            models.UniqueConstraint(
                fields=["partner", "definition"],
                condition=Q(is_default=True),
                name="template_one_default_per_partner_definition",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} · {self.name}"


class BulkAction(models.TextChoices):
    ENABLE = "enable", _("Enable from the template")
    PAUSE = "pause", _("Pause")
    RESUME = "resume", _("Resume")


class BulkJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    HALTED = "halted", _("Halted")
    DONE = "done", _("Done")


class BulkJob(models.Model):
    """One action (enable from a template, pause, resume) over many of a partner's stores, run by a
    worker in waves: a first wave of a few stores, then the rest unless the first wave failed too
    often. A dry run only says what each store's outcome would be."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="bulk_jobs")
    definition = models.ForeignKey("integrations.IntegrationDefinition", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(PartnerIntegrationTemplate, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="bulk_jobs")
    action = models.CharField(max_length=10, choices=BulkAction.choices)
    dry_run = models.BooleanField(default=False)
    dry_run_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollouts",
                                   help_text="The dry run this rollout follows.")
    status = models.CharField(max_length=10, choices=BulkJobStatus.choices, default=BulkJobStatus.QUEUED)
    first_wave_size = models.PositiveIntegerField()
    halt_failure_rate = models.DecimalField(max_digits=3, decimal_places=2,
                                            help_text="Halt after the first wave when more than this share failed.")
    total = models.PositiveIntegerField()
    processed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    halted_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(null=True, blank=True, help_text="Its last batch: a stalled job is resumed.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One job that writes per partner and integration at a time: two would race on the same stores.
            models.UniqueConstraint(
                fields=["partner", "definition"], condition=Q(dry_run=False, status__in=["queued", "running"]),
                name="bulk_job_one_running_per_definition",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner} · {self.get_action_display()} {self.definition}{' (dry run)' if self.dry_run else ''}"

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status in (BulkJobStatus.HALTED, BulkJobStatus.DONE)


class BulkOutcome(models.TextChoices):
    PENDING = "pending", _("Not yet")
    ENABLED = "enabled", _("Enabled")
    PAUSED = "paused", _("Paused")
    RESUMED = "resumed", _("Resumed")
    ALREADY_ENABLED = "already_enabled", _("Already enabled")
    NOTHING_TO_DO = "nothing_to_do", _("Nothing to do")
    NOT_AVAILABLE = "not_available", _("Integration not available")
    WRONG_VERTICAL = "wrong_vertical", _("Wrong vertical")
    MISSING_MODULE = "missing_module", _("Missing module")
    NO_LOCATION = "no_location", _("No location")
    SCHEMA_ERROR = "schema_error", _("Configuration error")
    FAILED = "failed", _("Failed")


# Outcomes that count against a wave (the others are done, or had nothing to do).
FAILED_OUTCOMES = frozenset({BulkOutcome.NOT_AVAILABLE, BulkOutcome.WRONG_VERTICAL, BulkOutcome.MISSING_MODULE,
                             BulkOutcome.NO_LOCATION, BulkOutcome.SCHEMA_ERROR, BulkOutcome.FAILED})


class BulkJobStore(models.Model):
    """One store of a bulk job: its wave, and what happened (or, in a dry run, would happen) to it."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="stores")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    wave = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=20, choices=BulkOutcome.choices, default=BulkOutcome.PENDING)
    message = models.CharField(max_length=500, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["wave", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "merchant"], name="bulk_job_store_once")]
        indexes = [models.Index(fields=["job", "outcome"], name="bulk_job_store_outcome")]

    def __str__(self) -> str:
        return f"job {self.job_id} · merchant {self.merchant_id}: {self.outcome}"

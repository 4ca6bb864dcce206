from datetime import date

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from merchants.models import Vertical
from qiiub.errors import InvalidTransition
from qiiub.seed_texts import seed_text


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
    # Enable again what a store disconnected on purpose (otherwise such stores are skipped).
    reenable_disconnected = models.BooleanField(default=False)
    dry_run_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollouts",
                                   help_text="The dry run this rollout follows.")
    status = models.CharField(max_length=10, choices=BulkJobStatus.choices, default=BulkJobStatus.QUEUED)
    first_wave_size = models.PositiveIntegerField()
    halt_failure_rate = models.DecimalField(max_digits=3, decimal_places=2,
                                            help_text="Halt after the first wave when more than this share failed.")
    total = models.PositiveIntegerField()
    processed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
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

    @property
    def halted_reason(self) -> str:
        """Why the job halted, in the active language ("" unless it did). A job halts only right after
        its first wave, so its counters are that wave's."""
        if self.status != BulkJobStatus.HALTED:
            return ""
        return gettext("%(failed)s of the first %(total)s stores failed (more than %(percent)s%%); the other "
                       "stores were not touched.") % {"failed": self.failed, "total": self.processed,
                                                      "percent": round(self.halt_failure_rate * 100)}


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
    STORE_DISCONNECTED = "store_disconnected", _("Disconnected by the store")
    FAILED = "failed", _("Failed")


# Outcomes that count against a wave (the others are done, or had nothing to do).
FAILED_OUTCOMES = frozenset({BulkOutcome.NOT_AVAILABLE, BulkOutcome.WRONG_VERTICAL, BulkOutcome.MISSING_MODULE,
                             BulkOutcome.NO_LOCATION, BulkOutcome.SCHEMA_ERROR, BulkOutcome.FAILED})


# Why a store failed when no refusal of the lifecycle says it: its rows changed under the job.
CHANGED_MEANWHILE = "changed_meanwhile"

# A store's detail: the sentence (marked here, translated when shown) that its outcome and parameters
# pick, filled in with them, the job's integration and the store's name.
_ENABLED = {  # (dry run, per location)
    (False, False): gettext_noop("%(name)s enabled; the store signs in to activate it."),
    (True, False): gettext_noop("%(name)s would be enabled; the store signs in to activate it."),
    (False, True): gettext_noop("%(name)s enabled at %(locations)s location(s); the store signs in to activate it."),
    (True, True): gettext_noop(
        "%(name)s would be enabled at %(locations)s location(s); the store signs in to activate it."),
}
_NOT_AVAILABLE = {  # by the definition's status
    "planned": gettext_noop("%(name)s is planned and not available yet."),
    "deprecated": gettext_noop("%(name)s is deprecated and can no longer be enabled."),
}
_WRONG_VERTICAL = {
    Vertical.PHARMACY: gettext_noop("%(name)s is only for pharmacy merchants."),
    Vertical.RETAIL: gettext_noop("%(name)s is only for retail merchants."),
}
# The refusals a bulk pause or resume meets, by their code (`ApplicationError.code`). The job asks only
# for moves from the status it read, so a move the lifecycle refuses means that status changed meanwhile.
_FAILED = {
    CHANGED_MEANWHILE: gettext_noop("Changed while the job ran; run it again."),
    InvalidTransition.code: gettext_noop("Changed while the job ran; run it again."),
    "forced_pause": gettext_noop("QIIUB operations paused this integration; only they can resume it."),
    "test_required": gettext_noop(
        "Fix the cause (credentials or configuration) and test the connection before resuming."),
}


def _detail(outcome: str, params: dict, *, dry_run: bool) -> str:
    """The untranslated sentence for a store's outcome and parameters; "" when the outcome says it all."""
    match outcome:
        case BulkOutcome.ENABLED:
            return _ENABLED[dry_run, "locations" in params]
        case BulkOutcome.ALREADY_ENABLED:
            return gettext_noop("%(name)s is already enabled.")
        case BulkOutcome.NOT_AVAILABLE:
            return _NOT_AVAILABLE[params["reason"]]
        case BulkOutcome.WRONG_VERTICAL:
            return _WRONG_VERTICAL.get(params["vertical"],
                                       gettext_noop("%(name)s is only for %(vertical)s merchants."))
        case BulkOutcome.MISSING_MODULE:
            return gettext_noop("%(name)s needs the module '%(module)s', which is not active.")
        case BulkOutcome.NO_LOCATION:
            return gettext_noop("%(name)s is set up per location, and %(store)s has no location yet.")
        case BulkOutcome.SCHEMA_ERROR:
            return gettext_noop("The configuration for %(name)s is not valid: fix the template (or the configuration "
                                "the store kept) and run the job again.")
        case BulkOutcome.STORE_DISCONNECTED if dry_run:
            return gettext_noop("%(name)s was disconnected by the store on %(on)s: it would be skipped. Tick "
                                "“Also enable again what stores disconnected” to include it.")
        case BulkOutcome.STORE_DISCONNECTED:
            return gettext_noop("%(name)s was disconnected by the store on %(on)s: skipped.")
        case BulkOutcome.NOTHING_TO_DO:
            return gettext_noop("%(name)s is %(states)s here.")
        case BulkOutcome.FAILED if "reason" in params:
            return _FAILED.get(params["reason"], gettext_noop("The change was refused (%(reason)s)."))
        case BulkOutcome.FAILED:
            return gettext_noop("The change was refused.")
    return ""


def _installation_status_labels() -> dict:
    # The integrations app's words for an installation's status, through its model as a foreign key
    # names it: this module sits below integrations (merchants refer to Partner).
    return dict(apps.get_model("integrations", "MerchantIntegration")._meta.get_field("status").choices)


class BulkJobStore(models.Model):
    """One store of a bulk job: its wave, and what happened (or, in a dry run, would happen) to it,
    stored as an outcome code and the parameters its detail names, never as a sentence: whoever reads
    it later reads `message` in their own language."""

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="stores")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    wave = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=20, choices=BulkOutcome.choices, default=BulkOutcome.PENDING)
    # {"locations": 2}, {"reason": "planned"}, {"vertical": "retail"}, {"module": "pharmacy.rx"},
    # {"statuses": ["configuring"]}, {"reason": "forced_pause"} (a refusal's code), or {}.
    message_params = models.JSONField(default=dict, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["wave", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "merchant"], name="bulk_job_store_once")]
        indexes = [models.Index(fields=["job", "outcome"], name="bulk_job_store_outcome")]

    def __str__(self) -> str:
        return f"job {self.job_id} · merchant {self.merchant_id}: {self.outcome}"

    @property
    def message(self) -> str:
        """The outcome's detail in the active language ("" when the outcome says it all)."""
        sentence = _detail(self.outcome, self.message_params, dry_run=self.job.dry_run)
        if not sentence:
            return ""
        states = sorted(str(_installation_status_labels().get(status, status)).lower()
                        for status in self.message_params.get("statuses", []))
        params = dict(self.message_params)
        if "on" in params:  # a day, written as the reader writes dates
            params["on"] = date_format(date.fromisoformat(params["on"]), "SHORT_DATE_FORMAT")
        return gettext(sentence) % {"name": seed_text(self.job.definition.name), "store": self.merchant.name,
                                    "states": ", ".join(states) or gettext("not enabled"), **params}

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    """The four levels of the settings cascade, highest first."""

    SYSTEM = "system", _("System")
    PARTNER = "partner", _("Partner")
    MERCHANT = "merchant", _("Merchant")
    LOCATION = "location", _("Location")


class SettingDefinition(models.Model):
    """A POS or device setting, loaded from `seeds/settings.json`. Its default is the System level."""

    key = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    schema = models.JSONField(help_text="JSON Schema every value of this setting must satisfy.")
    default = models.JSONField(null=True, blank=True)
    lockable = models.BooleanField(default=True, help_text="A partner or merchant may lock it for the levels below.")
    system_locked = models.BooleanField(default=False, help_text="Nobody may override the System default.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class SettingValue(models.Model):
    """An override of one setting at one Partner, Merchant or Location, optionally locked below it."""

    definition = models.ForeignKey(SettingDefinition, on_delete=models.CASCADE, related_name="values")
    level = models.CharField(max_length=10, choices=[c for c in Level.choices if c[0] != Level.SYSTEM])
    partner = models.ForeignKey("partners.Partner", null=True, blank=True, on_delete=models.CASCADE)
    merchant = models.ForeignKey("merchants.Merchant", null=True, blank=True, on_delete=models.CASCADE)
    location = models.ForeignKey("merchants.Location", null=True, blank=True, on_delete=models.CASCADE)
    value = models.JSONField(null=True)
    locked = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(level="partner", partner__isnull=False, merchant__isnull=True, location__isnull=True)
                    | Q(level="merchant", merchant__isnull=False, partner__isnull=True, location__isnull=True)
                    | Q(level="location", location__isnull=False, partner__isnull=True, merchant__isnull=True)
                ),
                name="setting_value_owner_matches_level",
            ),
            models.UniqueConstraint(
                fields=["definition", "partner", "merchant", "location"], nulls_distinct=False,
                name="setting_value_one_per_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.definition.key} @ {self.level}"


class EnrollmentPurpose(models.TextChoices):
    TERMINAL = "terminal", _("Terminal")
    RELAY = "relay", _("Pharmacy relay")


class EnrollmentCode(models.Model):
    """A one-time code a merchant admin gives a terminal (or a store's pharmacy relay); it trades
    the code for its token. A code serves only the purpose it was made for."""

    purpose = models.CharField(max_length=10, choices=EnrollmentPurpose.choices, default=EnrollmentPurpose.TERMINAL)
    location = models.ForeignKey("merchants.Location", on_delete=models.CASCADE, related_name="enrollment_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"enrollment code for {self.location}"


class Terminal(models.Model):
    """A POS terminal of one location. It authenticates with its token, stored only as a hash."""

    location = models.ForeignKey("merchants.Location", on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_with = models.OneToOneField(EnrollmentCode, null=True, blank=True, on_delete=models.SET_NULL)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    app_version = models.CharField(max_length=40, blank=True)

    # A terminal is what authenticates on the POS API (DRF reads these on request.user).
    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return f"{self.name} ({self.location})"

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin


class Vertical(models.TextChoices):
    PHARMACY = "pharmacy", _("Pharmacy")
    RETAIL = "retail", _("Retail")


class Module(models.Model):
    """A product module: controls what a merchant sees, not what it connects."""

    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.code


def validate_time_zone(name: str) -> None:
    """An IANA zone name this machine knows (its portal pages and batches keep the merchant's hours)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(zone)s is not a time zone: use a name like America/Puerto_Rico."),
                              params={"zone": name}) from None


class Merchant(TenantMixin):
    """The tenant: one PostgreSQL schema per merchant for its operational data."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="merchants"
    )
    vertical = models.CharField(max_length=20, choices=Vertical.choices)
    modules = models.ManyToManyField(Module, blank=True, related_name="merchants")
    language = models.CharField(max_length=10, default="es")
    time_zone = models.CharField(max_length=64, default="America/Puerto_Rico", validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    # merchants.services.merchant_create builds the schema, from the template, in its own transaction.
    auto_create_schema = False

    def __str__(self) -> str:
        return self.name


class Domain(DomainMixin):
    pass


class Location(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="locations")
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=40)
    municipality = models.CharField(max_length=100, blank=True)
    # Bumped (in one statement per change) whenever anything in this location's POS config changes;
    # a terminal's config ETag is this version, so an unchanged config costs one lookup and a 304.
    config_version = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="location_unique_code")]

    def __str__(self) -> str:
        return f"{self.merchant} · {self.name}"


class Role(models.TextChoices):
    PARTNER_ADMIN = "partner_admin", _("Partner admin")
    MERCHANT_ADMIN = "merchant_admin", _("Merchant admin")


class Membership(models.Model):
    """What a portal user may see: one partner (all its merchants) or one merchant.

    SystemAdmins are Django staff users and need no membership.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    partner = models.ForeignKey("partners.Partner", null=True, blank=True, on_delete=models.CASCADE)
    merchant = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="partner_admin", partner__isnull=False, merchant__isnull=True))
                | (Q(role="merchant_admin", merchant__isnull=False, partner__isnull=True)),
                name="membership_scope_matches_role",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "partner", "merchant"], nulls_distinct=False, name="membership_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.partner or self.merchant}"


class UserPreference(models.Model):
    """A portal user's own choices. `language` blank: automatic (the merchant's language for a
    merchant admin, English for a partner admin, else what the browser asks for)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    language = models.CharField(max_length=10, blank=True, choices=settings.LANGUAGES)

    def __str__(self) -> str:
        return f"{self.user} · {self.language or 'automatic'}"


class SchemaTemplate(models.Model):
    """The SQL that builds a merchant's schema as the template schema stands at the latest migration
    (merchants/schemas/): one row, rebuilt by `migrate_schemas` whenever the migrations change."""

    migration_fingerprint = models.CharField(max_length=64)
    statements = models.TextField()
    built_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"schema template {self.migration_fingerprint[:12]}"

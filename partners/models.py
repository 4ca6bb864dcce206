from django.db import models
from django.db.models import Q


class Partner(models.Model):
    """A reseller or group (e.g. a pharmacy chain) that manages many merchants."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_digest_on = models.DateField(null=True, blank=True, help_text="The day its admins last got the digest.")

    def __str__(self) -> str:
        return self.name


class PartnerIntegrationTemplate(models.Model):
    """A partner's defaults for one definition, copied into a merchant integration on enable (D6)."""

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

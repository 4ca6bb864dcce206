from django import forms
from django.contrib import admin

from partners.models import Partner, PartnerIntegrationTemplate
from qiiub.admin_base import GuardedModelAdmin
from qiiub.card_redaction import CardGuardedForm
from qiiub.errors import ValidationFailed


@admin.register(Partner)
class PartnerAdmin(GuardedModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


# Where the template check's field paths show in the admin form (the rest are configuration paths).
_FORM_FIELDS = {"name": "name", "mappings": "default_mappings", "group": "default_mappings",
                "code": "default_mappings", "target": "default_mappings"}


class TemplateForm(CardGuardedForm, forms.ModelForm):
    class Meta:
        model = PartnerIntegrationTemplate
        fields = ("partner", "definition", "name", "default_configuration", "default_mappings", "is_default")

    def clean(self):
        # Imported here: the admin loads before the connectors that the mapping rules import.
        from partners.services.templates import template_checked

        cleaned = super().clean()
        definition = cleaned.get("definition")
        if definition and not self.errors:
            try:  # the portal's check, so a template is valid wherever it was saved
                template_checked(definition=definition, name=cleaned.get("name") or "",
                                 configuration=cleaned.get("default_configuration") or {},
                                 mappings=cleaned.get("default_mappings") or [])
            except ValidationFailed as error:
                for path, problems in error.field_errors.items():
                    field = _FORM_FIELDS.get(path, "default_configuration")
                    self.add_error(field, f"{path}: {' '.join(problems)}" if field == "default_configuration"
                                   else error.message)
        return cleaned


@admin.register(PartnerIntegrationTemplate)
class PartnerIntegrationTemplateAdmin(GuardedModelAdmin):
    form = TemplateForm
    list_display = ("name", "partner", "definition", "is_default", "updated_at")
    list_filter = ("partner", "definition", "is_default")

from django import forms
from django.contrib import admin

from integrations.services.config import schema_errors
from partners.models import Partner, PartnerIntegrationTemplate
from qiiub.card_guard import find_card_data


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class TemplateForm(forms.ModelForm):
    class Meta:
        model = PartnerIntegrationTemplate
        fields = ("partner", "definition", "name", "default_configuration", "default_mappings", "is_default")

    def clean(self):
        cleaned = super().clean()
        for field in ("default_configuration", "default_mappings"):
            if (path := find_card_data(cleaned.get(field))) is not None:
                self.add_error(field, f"'{path}' looks like card data; QIIUB never stores card data.")
        definition = cleaned.get("definition")
        configuration = cleaned.get("default_configuration")
        if definition and configuration is not None:
            for path, problems in schema_errors(definition.configuration_schema, configuration).items():
                self.add_error("default_configuration", f"{path}: {' '.join(problems)}")
        return cleaned


@admin.register(PartnerIntegrationTemplate)
class PartnerIntegrationTemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    list_display = ("name", "partner", "definition", "is_default", "updated_at")
    list_filter = ("partner", "definition", "is_default")

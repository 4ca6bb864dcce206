"""SystemAdmin's Django admin: registry CRUD, deprecate, force-pause all, read-only operations data.

Status changes go through the lifecycle service; merchant integrations are not edited by hand.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from integrations.models import (
    IntegrationDefinition,
    IntegrationMapping,
    IntegrationStatusTransition,
    IntegrationSyncLog,
    MerchantIntegration,
    Status,
)
from integrations.services import enabling, health, registry, transitions
from qiiub.admin_base import GuardedModelAdmin, ReadOnlyAdmin, ReadOnlyInline
from qiiub.card_redaction import CardGuardedForm
from qiiub.errors import ApplicationError
from qiiub.schemas import schema_problem


class IntegrationDefinitionForm(CardGuardedForm, forms.ModelForm):
    confirm_invalidating = forms.BooleanField(
        required=False,
        label=_("Save even though installations become invalid"),
        help_text=_("Needed only when the new configuration schema refuses the configuration of live installations."),
    )

    class Meta:
        model = IntegrationDefinition
        fields = (
            "code", "name", "description", "category", "integration_type", "scope", "vertical_affinity",
            "configuration_schema", "credentials_schema", "requires_oauth", "required_module", "status",
            "sync_patterns", "per_location",
        )

    def _clean_schema(self, field: str):
        schema = self.cleaned_data.get(field)
        if (problem := schema_problem(schema)) is not None:
            raise forms.ValidationError(f"Not a valid JSON Schema: {problem}")
        return schema

    def clean_configuration_schema(self):
        return self._clean_schema("configuration_schema")

    def clean_credentials_schema(self):
        return self._clean_schema("credentials_schema") if self.cleaned_data.get("credentials_schema") else {}

    def clean(self):
        cleaned = super().clean()
        schema = cleaned.get("configuration_schema")
        if self.instance.pk is None or schema is None or "configuration_schema" not in self.changed_data:
            return cleaned
        invalid = registry.installations_invalid_under(definition=self.instance, configuration_schema=schema)
        if invalid and not cleaned.get("confirm_invalidating"):
            self.add_error("configuration_schema", _invalidated_message(invalid))
            self.add_error("confirm_invalidating", gettext("Tick this to save the schema anyway."))
        return cleaned


# How many stores a refusal names before it says "and N more".
STORES_NAMED = 20


def _invalidated_message(invalid: list[MerchantIntegration]) -> str:
    stores = ", ".join(
        f"{installation.merchant.name} ({installation.location.name if installation.location_id else gettext('all locations')})"
        for installation in invalid[:STORES_NAMED]
    )
    if len(invalid) > STORES_NAMED:
        stores += " " + gettext("and %(count)d more") % {"count": len(invalid) - STORES_NAMED}
    return ngettext(
        "This schema would make %(count)d live installation invalid: %(stores)s. Their configuration must be "
        "fixed before they can be activated again. Tick “Save even though installations become invalid” to save it.",
        "This schema would make %(count)d live installations invalid: %(stores)s. Their configuration must be "
        "fixed before they can be activated again. Tick “Save even though installations become invalid” to save it.",
        len(invalid),
    ) % {"count": len(invalid), "stores": stores}


@admin.register(IntegrationDefinition)
class IntegrationDefinitionAdmin(GuardedModelAdmin):
    form = IntegrationDefinitionForm
    list_display = ("code", "name", "category", "integration_type", "scope", "status", "required_module")
    list_filter = ("status", "category", "integration_type", "scope")
    search_fields = ("code", "name")
    actions = ("deprecate", "force_pause_all")

    def get_readonly_fields(self, request, obj=None):
        # The code binds the definition to its connector and its installations: fixed once created.
        return ("code",) if obj is not None else ()

    def get_deleted_objects(self, objs, request):
        # Installations PROTECT a definition; the stock page would list them one by one (or blame a
        # missing permission): say instead how many stores use it.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        in_use = [
            ngettext("%(name)s is in use by %(count)d store: disconnect it there first, or deprecate it.",
                     "%(name)s is in use by %(count)d stores: disconnect it there first, or deprecate it.", stores)
            % {"name": definition.name, "count": stores}
            for definition in objs if (stores := registry.definition_stores_using(definition))
        ]
        if in_use:
            return deleted, counts, set(), in_use
        return deleted, counts, perms_needed, protected

    @admin.action(description=_("Deprecate (no new installations)"))
    def deprecate(self, request, queryset):
        for definition in queryset:
            enabling.definition_deprecate(definition=definition, by=request.user)
        self.message_user(request, ngettext("Deprecated %(count)d definition.", "Deprecated %(count)d definitions.",
                                            queryset.count()) % {"count": queryset.count()})

    @admin.action(description=_("Force-pause all active and erroring installations"))
    def force_pause_all(self, request, queryset):
        """Asks first (the counts by status), and runs only on the confirmation's POST."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/integrations/force_pause_confirmation.html", {
                **self.admin_site.each_context(request),
                "title": gettext("Force-pause all installations?"),
                "opts": self.model._meta,
                "definitions": [_pause_counts(definition) for definition in queryset],
                "action": "force_pause_all",
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            })
        total = sum(transitions.definition_force_pause_all(definition=definition, by=request.user, reason="")
                    for definition in queryset)
        self.message_user(request, ngettext("Paused %(count)d integration.", "Paused %(count)d integrations.", total)
                          % {"count": total}, messages.WARNING)


def _pause_counts(definition: IntegrationDefinition) -> dict:
    by_status = registry.installations_by_status(definition)
    return {"definition": definition, "active": by_status.get(Status.ACTIVE, 0), "error": by_status.get(Status.ERROR, 0)}


class MappingInline(ReadOnlyInline):
    model = IntegrationMapping
    fields = ("map_group", "source_code", "target_code", "source_entity_type", "target_entity_type")


@admin.register(MerchantIntegration)
class MerchantIntegrationAdmin(ReadOnlyAdmin):
    list_display = (
        "merchant", "definition", "location", "status", "paused_reason", "consecutive_error_count",
        "needs_review", "last_sync_at",
    )
    list_filter = ("status", "needs_review", "definition", "merchant__partner", "merchant__vertical")
    search_fields = ("merchant__name", "merchant__slug", "definition__code", "definition__name")
    list_select_related = ("merchant", "definition", "location")
    # The vault key is never shown; credentials appear only as "set on <date>".
    exclude = ("credentials_vault_key",)
    readonly_fields = (
        "merchant", "location", "definition", "status", "configuration", "credentials_set_at", "last_test_at",
        "last_test_ok", "last_sync_at", "consecutive_error_count",
        "sync_watermark", "next_poll_at", "paused_reason", "needs_review", "review_acknowledged_at", "created_at",
        "updated_at",
    )
    inlines = [MappingInline]
    actions = ("pause_selected", "resume_selected", "acknowledge_review")

    def has_change_permission(self, request, obj=None):
        return request.user.is_staff  # to view the page; every field is read-only

    @admin.action(description="Acknowledge the review (taken in hand)")
    def acknowledge_review(self, request, queryset):
        self._each(request, queryset, lambda mi: health.merchant_integration_acknowledge_review(
            integration=mi, by=request.user))

    @admin.action(description="Pause (operations)")
    def pause_selected(self, request, queryset):
        self._each(request, queryset, lambda mi: transitions.merchant_integration_pause(
            integration=mi, by=request.user, reason="Paused by QIIUB operations", forced=True))

    @admin.action(description="Resume")
    def resume_selected(self, request, queryset):
        self._each(request, queryset, lambda mi: transitions.merchant_integration_resume(integration=mi, by=request.user))

    def _each(self, request, queryset, operation):
        done = 0
        for integration in queryset:
            try:
                operation(integration)
                done += 1
            except ApplicationError as error:
                self.message_user(request, f"{integration}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} integration(s) updated.")


@admin.register(IntegrationSyncLog)
class IntegrationSyncLogAdmin(ReadOnlyAdmin):
    list_display = ("merchant_integration", "direction", "status", "records_pushed", "records_pulled", "error_count", "duration_ms", "started_at")
    list_filter = ("status", "direction", "merchant_integration__definition")
    list_select_related = ("merchant_integration__merchant", "merchant_integration__definition", "merchant_integration__location")
    date_hierarchy = "started_at"


@admin.register(IntegrationStatusTransition)
class IntegrationStatusTransitionAdmin(ReadOnlyAdmin):
    list_display = ("merchant_integration", "from_status", "to_status", "actor", "reason", "created_at")
    list_filter = ("to_status",)
    list_select_related = ("merchant_integration__merchant", "merchant_integration__definition", "merchant_integration__location", "actor")

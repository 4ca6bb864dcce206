"""SystemAdmin's view of terminals and POS settings. Overrides are saved through the cascade
service (locks, schema, card guard, config versions); definitions come from seeds/settings.json."""

from django import forms
from django.contrib import admin, messages

from devices import cascade, terminals
from devices.models import SettingDefinition, SettingValue, Terminal
from qiiub.admin_base import GuardedModelAdmin
from qiiub.card_redaction import CardGuardedForm
from qiiub.errors import ApplicationError, ValidationFailed


@admin.register(SettingDefinition)
class SettingDefinitionAdmin(GuardedModelAdmin):
    list_display = ("key", "system_locked", "lockable", "updated_at")
    search_fields = ("key", "description")
    readonly_fields = ("key", "description", "schema", "default", "lockable", "system_locked", "updated_at")

    def has_add_permission(self, request):
        return False  # loaded from seeds/settings.json (manage.py load_registry)

    def has_delete_permission(self, request, obj=None):
        return False


class SettingValueForm(CardGuardedForm, forms.ModelForm):
    class Meta:
        model = SettingValue
        fields = ("definition", "level", "partner", "merchant", "location", "value", "locked")

    def clean(self):
        data = super().clean()
        owner = data.get(data.get("level") or "")
        if owner is None or data.get("definition") is None:
            raise forms.ValidationError("Choose a setting, a level and the partner, merchant or location of that level.")
        for level in ("partner", "merchant", "location"):
            if level != data["level"] and data.get(level) is not None:
                raise forms.ValidationError(f"A {data['level']}-level value names only its {data['level']}.")
        try:
            cascade.setting_value_check(key=data["definition"].key, owner=owner, value=data.get("value"),
                                        locked=data.get("locked", False))
        except ValidationFailed as error:
            raise forms.ValidationError([error.message, *(f"{path}: {', '.join(messages_)}"
                                                          for path, messages_ in error.field_errors.items())]) from None
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from None
        return data


@admin.register(SettingValue)
class SettingValueAdmin(GuardedModelAdmin):
    form = SettingValueForm
    list_display = ("definition", "level", "partner", "merchant", "location", "locked", "updated_at")
    list_filter = ("level", "locked", "definition")
    search_fields = ("definition__key",)

    def save_model(self, request, obj, form, change):
        owner = form.cleaned_data[obj.level]
        saved = cascade.setting_value_set(key=obj.definition.key, owner=owner, value=obj.value, locked=obj.locked,
                                          by=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        cascade.setting_value_clear(key=obj.definition.key, owner=getattr(obj, obj.level), by=request.user)

    def delete_queryset(self, request, queryset):
        for value in queryset.select_related("definition", "partner", "merchant", "location"):
            self.delete_model(request, value)


@admin.register(Terminal)
class TerminalAdmin(GuardedModelAdmin):
    list_display = ("name", "location", "last_seen_at", "app_version", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "location__name", "location__merchant__name")
    fields = ("name", "location", "enrolled_at", "last_seen_at", "app_version", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_selected",)

    def has_add_permission(self, request):
        return False  # terminals enroll with a code from the merchant portal

    @admin.action(description="Revoke (the token stops working at once)")
    def revoke_selected(self, request, queryset):
        for terminal in queryset:
            terminals.terminal_revoke(terminal=terminal, by=request.user)
        self.message_user(request, f"{queryset.count()} terminal(s) revoked.", messages.SUCCESS)

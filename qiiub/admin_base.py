from django import forms
from django.contrib import admin

from qiiub.card_redaction import CardGuardedForm


class GuardedModelForm(CardGuardedForm, forms.ModelForm):
    pass


class GuardedModelAdmin(admin.ModelAdmin):
    """The base of every admin page that writes: what a SystemAdmin types passes the card guard too."""

    form = GuardedModelForm


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows rows only: records are written by services, never by hand."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model admin that shows records only: they are written by services, never by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

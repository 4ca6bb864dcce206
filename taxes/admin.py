"""SystemAdmin's Django admin for the IVU rules: rates and exempt tax categories over periods.

The rules of a good row (dates in order, a rate from 0 to 1, no overlap with a row of the same kind)
live on the models; the forms show their errors and the saves go through `ivu_rule_save`. Only
superusers reach these pages: the rates are tax law for every merchant, so staff given model
permissions by mistake must not change them either.
"""

from django import forms
from django.contrib import admin
from django.utils import timezone

from qiiub.admin_base import GuardedModelAdmin
from qiiub.card_redaction import CardGuardedForm
from taxes.ivu import ivu_rule_save, ivu_rules_lock
from taxes.models import IvuExemption, IvuRate


class InForceFilter(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return (("today", "Today"), ("ended", "Ended"), ("future", "From a later day"))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "today":
            return queryset.in_force_on(today)
        if self.value() == "ended":
            return queryset.filter(effective_to__lt=today)
        if self.value() == "future":
            return queryset.filter(effective_from__gt=today)
        return queryset


class DatedRuleForm(CardGuardedForm, forms.ModelForm):
    def clean(self):
        # The admin's save runs in one transaction with this validation; the lock held from here
        # means no other writer adds an overlapping row between the check and the save.
        ivu_rules_lock(self._meta.model)
        return super().clean()


class IvuRateForm(DatedRuleForm):
    class Meta:
        model = IvuRate
        fields = ("jurisdiction", "rate", "effective_from", "effective_to")


class IvuExemptionForm(DatedRuleForm):
    class Meta:
        model = IvuExemption
        fields = ("tax_category", "description", "effective_from", "effective_to")


class SystemAdminOnly(GuardedModelAdmin):
    def _is_system_admin(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self._is_system_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_system_admin(request)

    def has_add_permission(self, request):
        return self._is_system_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_system_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_system_admin(request)

    def save_model(self, request, obj, form, change):
        ivu_rule_save(rule=obj, by=request.user)


@admin.register(IvuRate)
class IvuRateAdmin(SystemAdminOnly):
    form = IvuRateForm
    list_display = ("jurisdiction", "rate", "percent", "effective_from", "effective_to")
    list_filter = ("jurisdiction", InForceFilter)
    ordering = ("-effective_from", "jurisdiction")
    date_hierarchy = "effective_from"

    @admin.display(description="percent", ordering="rate")
    def percent(self, rate: IvuRate) -> str:
        return rate.percent


@admin.register(IvuExemption)
class IvuExemptionAdmin(SystemAdminOnly):
    form = IvuExemptionForm
    list_display = ("tax_category", "description", "effective_from", "effective_to")
    list_filter = (InForceFilter, "tax_category")
    search_fields = ("tax_category", "description")
    ordering = ("-effective_from", "tax_category")
    date_hierarchy = "effective_from"

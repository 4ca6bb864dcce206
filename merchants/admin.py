from django.contrib import admin

from merchants.models import Location, Membership, Merchant, Module
from qiiub.admin_base import GuardedModelAdmin, GuardedModelForm


class LocationInline(admin.TabularInline):
    form = GuardedModelForm
    model = Location
    extra = 0


@admin.register(Merchant)
class MerchantAdmin(GuardedModelAdmin):
    list_display = ("name", "slug", "partner", "vertical", "schema_name")
    list_filter = ("vertical", "partner")
    search_fields = ("name", "slug")
    filter_horizontal = ("modules",)
    readonly_fields = ("schema_name",)
    inlines = [LocationInline]

    def has_add_permission(self, request):
        return False  # merchants are created by merchants.services.merchant_create (schema + domain)


@admin.register(Module)
class ModuleAdmin(GuardedModelAdmin):
    list_display = ("code", "name")


@admin.register(Membership)
class MembershipAdmin(GuardedModelAdmin):
    list_display = ("user", "role", "partner", "merchant")
    list_filter = ("role",)
    raw_id_fields = ("user", "merchant")

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants.models import Location, Membership, Merchant, Module
from merchants.two_factor import two_factor_reset
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


@admin.action(description=_("Reset two-factor sign-in (a lost phone and lost recovery codes)"))
def two_factor_reset_action(modeladmin, request, queryset):
    for user in queryset:
        two_factor_reset(user=user, by=request.user)
        modeladmin.log_change(request, user, [{"changed": {"fields": ["two-factor sign-in (reset)"]}}])
    modeladmin.message_user(request, ngettext(
        "Two-factor sign-in reset for %(count)d user: they set it up again at their next sign-in.",
        "Two-factor sign-in reset for %(count)d users: they set it up again at their next sign-in.",
        len(queryset)) % {"count": len(queryset)}, messages.SUCCESS)


admin.site.unregister(User)


@admin.register(User)
class HubUserAdmin(UserAdmin):
    """Django's user admin, with the SystemAdmin's reset of a user's two-factor sign-in (audited in
    the admin's history of that user)."""

    actions = [two_factor_reset_action]
    list_display = (*UserAdmin.list_display, "two_factor")

    def get_queryset(self, request):
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_two_factor=Exists(confirmed))

    @admin.display(description=_("Two-factor"), boolean=True)
    def two_factor(self, user) -> bool:
        return user.has_two_factor

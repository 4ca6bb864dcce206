"""SystemAdmin's view of card data discovery: each scan, newest first, with what it found and what it
masked. Read-only, and superusers only: scans are run by the weekly schedule or the command."""

from django.contrib import admin

from compliance.models import CardRedaction, CardScan, CardScanHit
from qiiub.admin_base import ReadOnlyAdmin, ReadOnlyInline


class CardScanHitInline(ReadOnlyInline):
    model = CardScanHit
    fields = ("where", "shown", "merchant", "redacted", "receivers", "acknowledged_at")
    verbose_name, verbose_name_plural = "card number found", "card numbers found (first 6 and last 4 digits)"

    @admin.display(description="where (schema.table, row, column, path)")
    def where(self, hit: CardScanHit) -> str:
        return str(hit)

    @admin.display(description="already delivered to")
    def receivers(self, hit: CardScanHit) -> str:
        return ", ".join(hit.delivered_to) or "-"


class CardRedactionInline(ReadOnlyInline):
    model = CardRedaction
    fields = ("schema", "table", "rows", "columns", "actor", "redacted_at")
    verbose_name_plural = "redactions (one audited transaction per table)"


@admin.register(CardScan)
class CardScanAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "status", "hit_count", "redact", "tables_scanned", "schemas_scanned", "requested_by")
    list_filter = ("status", "redact")
    readonly_fields = ("started_at", "finished_at", "status", "redact", "requested_by", "schemas_scanned",
                       "tables_scanned", "hit_count", "error")
    inlines = [CardScanHitInline, CardRedactionInline]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

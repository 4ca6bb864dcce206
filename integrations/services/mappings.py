"""Mappings of an accounting integration: our codes (tender kinds, sales, each IVU jurisdiction) to
the vendor's accounts (or items), edited by the merchant admin. The codes an integration can map
are the daily journal's (`connectors/journal.py`); the editor shows which of them the merchant's
recent sales used without a mapping, since those days cannot be posted."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context

from integrations.connectors.journal import PAYMENT_METHOD, REVENUE, SALES_CODE, TAX_CATEGORY, TAX_CODES, TENDER_CODES
from integrations.connectors.registry import connector_class_for, has_connector
from integrations.models import IntegrationMapping, MerchantIntegration
from merchants.store.models import Sale, Tender
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotAllowed, ValidationFailed

# Our codes to map, by group; a connector names the groups it maps (`Connector.mapping_groups`).
CODES = {
    PAYMENT_METHOD: list(dict.fromkeys(TENDER_CODES.values())),
    REVENUE: [SALES_CODE],
    TAX_CATEGORY: list(TAX_CODES.values()),
}
logger = logging.getLogger(__name__)
SEEN_DAYS = 30
MAX_TARGET = 120


@dataclass(frozen=True)
class MappingRow:
    group: str
    code: str
    target: str
    seen: bool  # used by the merchant's sales in the last SEEN_DAYS days

    @property
    def missing(self) -> bool:
        return self.seen and not self.target


def mapping_codes(definition_code: str) -> dict[str, list[str]]:
    """The groups and codes an integration of this code maps (none when it has no mappings)."""
    if not has_connector(definition_code):
        return {}
    return {group: CODES[group] for group in connector_class_for(definition_code).mapping_groups}


def mapping_target_hint(definition_code: str) -> str:
    """What a mapping's target is for this integration, in the words the editor shows."""
    return str(connector_class_for(definition_code).mapping_target_hint) if mapping_codes(definition_code) else ""


def uses_mappings(integration: MerchantIntegration) -> bool:
    return bool(mapping_codes(integration.definition.code))


def _require_mappings(integration: MerchantIntegration) -> None:
    if not uses_mappings(integration):
        raise NotAllowed(_("%(name)s has no mappings.") % {"name": integration.definition.name}, code="no_mappings")


def codes_seen(integration: MerchantIntegration) -> set[tuple[str, str]]:
    """The (group, code) pairs the merchant's sales of the last 30 days needed (two queries)."""
    since = timezone.now() - timedelta(days=SEEN_DAYS)
    seen: set[tuple[str, str]] = set()
    with schema_context(integration.merchant.schema_name):
        sales = Sale.objects.filter(completed_at__gte=since)
        if integration.location_id:
            sales = sales.filter(location_code=integration.location.code)
        totals = sales.aggregate(subtotal=Sum("subtotal"), tax_state=Sum("tax_state"), tax_municipal=Sum("tax_municipal"))
        kinds = Tender.objects.filter(sale__in=sales).values_list("kind", flat=True).distinct()
        seen |= {(PAYMENT_METHOD, TENDER_CODES.get(kind, kind.upper())) for kind in kinds}
    if totals["subtotal"]:
        seen.add((REVENUE, SALES_CODE))
    seen |= {(TAX_CATEGORY, code) for column, code in TAX_CODES.items() if totals[column]}
    return seen


def mapping_rows(integration: MerchantIntegration) -> list[MappingRow]:
    """Every code this integration can map, with its target and whether sales used it."""
    _require_mappings(integration)
    targets = {(row.map_group, row.source_code): row.target_code for row in integration.mappings.all()}
    seen = codes_seen(integration)
    pairs = [(group, code) for group, codes in mapping_codes(integration.definition.code).items() for code in codes]
    pairs += sorted(pair for pair in seen | set(targets) if pair not in pairs)
    return [MappingRow(group, code, targets.get((group, code), ""), (group, code) in seen) for group, code in pairs]


def mapping_checked(group: str, code: str, target: str) -> tuple[str, str, str]:
    """One mapping row as it is stored (code upper-cased, both trimmed), or why it cannot be: an
    unknown group, a missing or long code, a long target, card data (checked first, in every field:
    the other refusals name what was sent)."""
    ensure_no_card_data({"group": group, "code": code, "target": target})
    if group not in CODES:
        raise ValidationFailed(_("Unknown mapping group '%(group)s'.") % {"group": group},
                               field_errors={"group": [_("Unknown group.")]})
    code, target = code.strip().upper(), target.strip()
    if not code or len(code) > 40:
        raise ValidationFailed(_("Name the code to map (at most %(count)s characters).") % {"count": 40},
                               field_errors={"code": [_("Required.")]})
    if len(target) > MAX_TARGET:
        raise ValidationFailed(_("The target is at most %(count)s characters.") % {"count": MAX_TARGET},
                               field_errors={"target": [_("At most %(count)s characters.") % {"count": MAX_TARGET}]})
    return group, code, target


def mapping_set(*, integration: MerchantIntegration, group: str, code: str, target: str, by) -> MappingRow:
    """Map one code (an empty target removes the mapping). Unknown groups are refused."""
    _require_mappings(integration)
    group, code, target = mapping_checked(group, code, target)
    with transaction.atomic():
        if not target:
            IntegrationMapping.objects.filter(merchant_integration=integration, map_group=group, source_code=code).delete()
        else:
            IntegrationMapping.objects.update_or_create(
                merchant_integration=integration, map_group=group, source_code=code,
                defaults={"target_code": target, "target_entity_type": "Account"})
    logger.info("integration.mapping_set", extra={"integration_id": integration.pk, "group": group, "code": code,
                                                  "cleared": not target, "by": getattr(by, "pk", None)})
    return MappingRow(group, code, target, (group, code) in codes_seen(integration))

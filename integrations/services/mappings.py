"""Mappings of an accounting integration: our codes (tender kinds, sales, each IVU jurisdiction) to
the vendor's accounts (or items), edited by the merchant admin. The codes an integration can map
are the daily journal's (`connectors/journal.py`); the editor shows which of them the merchant's
recent sales used without a mapping, since those days cannot be posted.

Where the connector reads the vendor's chart of accounts (QuickBooks Online, Xero), a target is
picked from that chart, read through the cache, and anything else is refused; elsewhere (an IIF
file, SURI) a target is free text."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import schema_context

from integrations.connectors.base import Account
from integrations.connectors.journal import PAYMENT_METHOD, REVENUE, SALES_CODE, TAX_CATEGORY, TAX_CODES, TENDER_CODES
from integrations.connectors.registry import connector_class_for, connector_for, has_connector
from integrations.models import IntegrationMapping, MerchantIntegration
from integrations.services import problems
from merchants.store.models import Sale, Tender
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ApplicationError, NotAllowed, ValidationFailed
from qiiub.http import ConnectorError

# Our codes to map, by group; a connector names the groups it maps (`Connector.mapping_groups`).
CODES = {
    PAYMENT_METHOD: list(dict.fromkeys(TENDER_CODES.values())),
    REVENUE: [SALES_CODE],
    TAX_CATEGORY: list(TAX_CODES.values()),
}
GROUP_LABELS = {PAYMENT_METHOD: gettext_lazy("Payment method"), REVENUE: gettext_lazy("Sales"),
                TAX_CATEGORY: gettext_lazy("Tax (IVU)")}
logger = logging.getLogger(__name__)
SEEN_DAYS = 30
MAX_TARGET = 120
# A chart is read once per editing session, not per row saved; a new account shows after this
# long, or at once with "Refresh accounts".
CHART_CACHE_SECONDS = 15 * 60


@dataclass(frozen=True)
class TargetChoices:
    """A row's picker: the accounts whose type suits its group first, every other active one after;
    `current` is the mapped account, None when the target is not an active account of the chart."""

    suited: tuple[Account, ...]
    others: tuple[Account, ...]
    current: Account | None


@dataclass(frozen=True)
class MappingRow:
    group: str
    code: str
    target: str
    seen: bool  # used by the merchant's sales in the last SEEN_DAYS days
    choices: TargetChoices | None = None  # set by `mapping_editor` when targets come from a chart

    @property
    def missing(self) -> bool:
        return self.seen and not self.target

    @property
    def group_label(self) -> str:
        return str(GROUP_LABELS.get(self.group, self.group))

    @property
    def label(self) -> str:
        """The row as the editor names it: "Payment method CHECK"."""
        return f"{self.group_label} {self.code}"

    @property
    def off_chart(self) -> bool:
        """Mapped to something that is not an active account of the chart (deleted, archived…)."""
        return self.choices is not None and bool(self.target) and self.choices.current is None


@dataclass(frozen=True)
class MappingEditor:
    """What the editor shows: the rows and how a target is chosen. `chart_error` says why the
    chart could not be read (the rows are then shown, not editable, until a retry or a connection
    works)."""

    rows: list[MappingRow]
    picks_from_chart: bool
    vendor: str
    connected: bool
    chart_error: str = ""


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


def picks_from_chart(integration: MerchantIntegration) -> bool:
    """Whether this integration's targets are accounts of the vendor's chart (not free text)."""
    return uses_mappings(integration) and connector_class_for(integration.definition.code).maps_to_chart(
        integration.configuration)


def _chart_key(integration: MerchantIntegration) -> str:
    # The grant's vault key is in it: a reconnection (perhaps to another company) reads afresh.
    return f"integrations:chart-of-accounts:{integration.pk}:{integration.credentials_vault_key}"


def chart_of_accounts(integration: MerchantIntegration, *, refresh: bool = False) -> list[Account]:
    """The vendor's chart for this integration, from the cache unless `refresh` (or it expired).
    Refused when the integration is not connected; a vendor failure raises its ConnectorError
    and nothing is cached, so the next look tries again."""
    if not integration.credentials_vault_key:
        raise NotAllowed(_("Connect %(name)s first: mapping targets are picked from its chart of accounts.")
                         % {"name": integration.definition.name}, code="chart_not_connected")
    if not refresh and (accounts := cache.get(_chart_key(integration))) is not None:
        return accounts
    accounts = connector_for(integration).chart_of_accounts()
    cache.set(_chart_key(integration), accounts, timeout=CHART_CACHE_SECONDS)  # under the grant it was read with
    logger.info("integration.chart_read", extra={"integration_id": integration.pk, "accounts": len(accounts)})
    return accounts


def chart_refresh(integration: MerchantIntegration) -> list[Account]:
    """Read the chart again now ("Refresh accounts"): an account just added shows at once."""
    return chart_of_accounts(integration, refresh=True)


def _choices(integration: MerchantIntegration, row: MappingRow, accounts: list[Account]) -> TargetChoices:
    suits = connector_class_for(integration.definition.code).account_types_by_group.get(row.group, frozenset())
    active = [account for account in accounts if account.active]
    return TargetChoices(suited=tuple(account for account in active if account.type in suits),
                         others=tuple(account for account in active if account.type not in suits),
                         current=next((account for account in active if account.code == row.target), None))


def mapping_editor(integration: MerchantIntegration, *, rows: list[MappingRow] | None = None,
                   refresh: bool = False) -> MappingEditor:
    """The editor for `rows` (all of the integration's by default), each with its choices when
    targets come from the chart. A chart that cannot be read is said, not raised: the rows stay
    in view and the merchant can retry."""
    rows = mapping_rows(integration) if rows is None else rows
    editor = MappingEditor(rows=rows, picks_from_chart=picks_from_chart(integration),
                           vendor=integration.definition.name, connected=bool(integration.credentials_vault_key))
    if not editor.picks_from_chart:
        return editor
    try:
        accounts = chart_of_accounts(integration, refresh=refresh)
    except ApplicationError as failure:
        logger.info("integration.chart_unavailable", extra={"integration_id": integration.pk, "code": failure.code})
        return replace(editor, chart_error=failure.message)
    return replace(editor, rows=[replace(row, choices=_choices(integration, row, accounts)) for row in rows])


def _require_chart_account(integration: MerchantIntegration, row: MappingRow) -> None:
    """Refuse a target that is not an active account of the vendor's chart, naming the row."""
    try:
        accounts = chart_of_accounts(integration)
    except ConnectorError as failure:
        raise NotAllowed(_("%(field)s was not saved: the chart of accounts of %(vendor)s could not be read "
                           "(%(reason)s). Try again.") % {"field": row.label, "vendor": integration.definition.name,
                                                          "reason": failure.message},
                         code="chart_unavailable") from failure
    if row.target not in {account.code for account in accounts if account.active}:
        message = _("%(field)s: %(target)s is not an active account of the %(vendor)s chart of accounts. "
                    "Pick one from the list.") % {"field": row.label, "target": row.target,
                                                  "vendor": integration.definition.name}
        raise ValidationFailed(message, field_errors={"target": [message]}, code="not_an_account")


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


def mapping_row(integration: MerchantIntegration, *, group: str, code: str) -> MappingRow:
    """One row as it is stored now (an unknown pair reads as not mapped)."""
    stored = integration.mappings.filter(map_group=group, source_code=code).values_list("target_code", flat=True)
    return MappingRow(group, code, next(iter(stored), ""), (group, code) in codes_seen(integration))


def unmapped_codes_in_use(integration: MerchantIntegration) -> list[tuple[str, str]]:
    """The (group, code) pairs the merchant's sales of the last SEEN_DAYS days used that have no
    mapping, in the editor's order: each holds back the days it appears in. None for an
    integration without mappings."""
    if not uses_mappings(integration):
        return []
    return [(row.group, row.code) for row in mapping_rows(integration) if row.missing]


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
    """Map one code (an empty target removes the mapping). Unknown groups are refused, and so is a
    target that is not an active account of the vendor's chart, where targets come from one."""
    _require_mappings(integration)
    group, code, target = mapping_checked(group, code, target)
    if target and picks_from_chart(integration):
        _require_chart_account(integration, MappingRow(group, code, target, seen=False))
    with transaction.atomic():
        if not target:
            IntegrationMapping.objects.filter(merchant_integration=integration, map_group=group, source_code=code).delete()
        else:
            IntegrationMapping.objects.update_or_create(
                merchant_integration=integration, map_group=group, source_code=code,
                defaults={"target_code": target, "target_entity_type": "Account"})
    problems.unmapped_check(integration=integration, mapped={
        f"{mapped_group} {mapped_code}"
        for mapped_group, mapped_code in integration.mappings.values_list("map_group", "source_code")})
    logger.info("integration.mapping_set", extra={"integration_id": integration.pk, "group": group, "code": code,
                                                  "cleared": not target, "by": getattr(by, "pk", None)})
    return MappingRow(group, code, target, (group, code) in codes_seen(integration))

"""Puerto Rico IVU (sales and use tax): the monthly return of a merchant, all locations together.

Rates and exemptions are data with effective dates (`seeds/ivu.json`, loaded by `load_registry`;
SystemAdmins manage them in the Django admin, which saves through `ivu_rule_save`), applied to each
day's sales by the rules of that day. The return sets what is due against what the POS collected. A
difference larger than per-sale rounding can explain is flagged: a wrong rate at a till, or a
category taxed that should not be.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django_tenants.utils import schema_context

from merchants.models import Merchant
from merchants.store.models import Sale, SaleLine
from qiiub.errors import ValidationFailed
from qiiub.seed_files import read_seed_list, seed_error
from taxes.models import DatedRule, IvuExemption, IvuRate, Jurisdiction

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
ROUNDING_PER_SALE = Decimal("0.005")  # each sale rounds its IVU to the cent: at most half a cent each


@dataclass
class IvuReturn:
    merchant: Merchant
    period: str  # YYYY-MM
    sales_count: int = 0
    taxable_sales: Decimal = Decimal("0.00")
    exempt_sales: Decimal = Decimal("0.00")
    due: dict[str, Decimal] = field(default_factory=dict)
    collected: dict[str, Decimal] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["period", "merchant", "sales", "taxable_sales", "exempt_sales", "state_due", "municipal_due",
                         "state_collected", "municipal_collected"])
        writer.writerow([self.period, self.merchant.name, self.sales_count, self.taxable_sales, self.exempt_sales,
                         self.due[Jurisdiction.STATE], self.due[Jurisdiction.MUNICIPAL],
                         self.collected[Jurisdiction.STATE], self.collected[Jurisdiction.MUNICIPAL]])
        return out.getvalue()


class _Rules:
    """Every rate and exemption, read once; asked per day."""

    def __init__(self):
        # Newest first: should rows ever overlap (written around the rules), the latest law wins.
        self.rates = list(IvuRate.objects.order_by("-effective_from"))
        self.exemptions = list(IvuExemption.objects.all())

    def rate(self, jurisdiction: str, day: date) -> Decimal:
        for rate in self.rates:
            if rate.jurisdiction == jurisdiction and rate.covers(day):
                return rate.rate
        raise ValidationFailed(f"No IVU {jurisdiction} rate is in force on {day}: add one in the admin "
                               f"(IVU rates) or load seeds/ivu.json.", code="no_ivu_rate")

    def exempt(self, category: str, day: date) -> bool:
        return any(exemption.tax_category == category and exemption.covers(day) for exemption in self.exemptions)


def ivu_return(*, merchant: Merchant, year: int, month: int) -> IvuReturn:
    """The return for one calendar month in the merchant's time zone (two queries on its sales)."""
    zone = ZoneInfo(merchant.time_zone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    with schema_context(merchant.schema_name):
        sales = Sale.objects.filter(completed_at__gte=start, completed_at__lt=end)
        collected = sales.aggregate(count=Count("id"), state=Sum("tax_state"), municipal=Sum("tax_municipal"))
        by_day = (SaleLine.objects.filter(sale__in=sales)
                  .annotate(day=TruncDate("sale__completed_at", tzinfo=zone))
                  .values_list("day", "tax_category").annotate(total=Sum("line_total")).order_by())
        by_day = list(by_day)
    rules = _Rules()
    result = IvuReturn(merchant=merchant, period=f"{year:04d}-{month:02d}", sales_count=collected["count"])
    due = {Jurisdiction.STATE: Decimal("0"), Jurisdiction.MUNICIPAL: Decimal("0")}
    for day, category, total in by_day:
        if rules.exempt(category, day):
            result.exempt_sales += total
            continue
        result.taxable_sales += total
        for jurisdiction in due:
            due[jurisdiction] += total * rules.rate(jurisdiction, day)
    result.due = {jurisdiction: amount.quantize(CENT, ROUND_HALF_UP) for jurisdiction, amount in due.items()}
    result.collected = {Jurisdiction.STATE: collected["state"] or Decimal("0.00"),
                        Jurisdiction.MUNICIPAL: collected["municipal"] or Decimal("0.00")}
    tolerance = ROUNDING_PER_SALE * result.sales_count
    for jurisdiction, amount in result.due.items():
        difference = result.collected[jurisdiction] - amount
        if abs(difference) > tolerance:
            result.problems.append(
                f"IVU {Jurisdiction(jurisdiction).label.split()[-1]}: the POS collected {result.collected[jurisdiction]} "
                f"but {amount} is due ({difference:+}). Check the tax categories and rates at the tills.")
    return result


def ivu_rules_lock(model: type[DatedRule]) -> None:
    """Hold `model`'s table against other writers until the transaction ends, so that the overlap
    check and the write see the same rows. Readers (a return being computed) are not held."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ivu_rules_lock holds until the end of a transaction: call it inside one.")
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(model._meta.db_table)} IN SHARE ROW EXCLUSIVE MODE")


def ivu_rule_save(*, rule: DatedRule, by=None) -> DatedRule:
    """Create or change one rate or exemption. The model's rules refuse it (dates in order, a rate
    from 0 to 1, no overlap with a row of the same kind) with a `ValidationFailed` naming the problem."""
    with transaction.atomic():
        ivu_rules_lock(type(rule))
        try:
            rule.full_clean()
        except ValidationError as error:
            raise ValidationFailed(" ".join(error.messages), code="ivu_rule_invalid",
                                   field_errors=error.message_dict) from None
        rule.save()
    logger.info("ivu.rule_saved", extra={"model": rule._meta.model_name, "rule_id": rule.pk, "by": getattr(by, "pk", None)})
    return rule


# What the seed file states of each row, by the row's identity (its kind and first day).
_SEED_ROWS = {
    IvuRate: (("jurisdiction", "effective_from"), ("rate", "effective_to")),
    IvuExemption: (("tax_category", "effective_from"), ("description", "effective_to")),
}


@transaction.atomic
def ivu_rules_load(*, path: Path) -> int:
    """Add the seed file's rates and exemptions and update the ones it already added (by kind and
    first day), all or nothing; returns how many rows the file holds. Rows a SystemAdmin added in
    the admin stay, and so does an end date set there that the file does not state."""
    entries = []
    try:
        entries += [("rates", index, IvuRate, {
            "jurisdiction": Jurisdiction(entry["jurisdiction"]).value, "rate": Decimal(entry["rate"]),
            "effective_from": date.fromisoformat(entry["effective_from"]), **_end(entry)})
            for index, entry in enumerate(read_seed_list(path, "rates"))]
        entries += [("exemptions", index, IvuExemption, {
            "tax_category": entry["tax_category"], "description": entry.get("description", ""),
            "effective_from": date.fromisoformat(entry["effective_from"]), **_end(entry)})
            for index, entry in enumerate(read_seed_list(path, "exemptions"))]
    except (KeyError, ValueError, ArithmeticError, TypeError) as error:
        raise seed_error(path, "rates/exemptions", f"an entry is not valid: {json.dumps(str(error))}") from None
    for model in _SEED_ROWS:
        ivu_rules_lock(model)
    # Oldest first, so that a row the file ends is ended before the row that follows it is checked.
    for list_name, index, model, values in sorted(entries, key=lambda entry: entry[3]["effective_from"]):
        identity, stated = _SEED_ROWS[model]
        row = model.objects.filter(**{name: values[name] for name in identity}).first() or model()
        for name in (*identity, *stated):
            if name in values:
                setattr(row, name, values[name])
        try:
            ivu_rule_save(rule=row)
        except ValidationFailed as error:
            raise seed_error(path, f"{list_name}[{index}]", error.message) from None
    return len(entries)


def _end(entry: dict) -> dict:
    """The entry's end date, only when it states one (so an end set in the admin is kept)."""
    return {"effective_to": date.fromisoformat(entry["effective_to"])} if entry.get("effective_to") else {}

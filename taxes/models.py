from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from merchants.store.models import TaxJurisdiction as Jurisdiction


class DatedRuleQuerySet(models.QuerySet):
    def in_force_on(self, day: date) -> "DatedRuleQuerySet":
        return self.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day), effective_from__lte=day)


class DatedRule(models.Model):
    """A rule of IVU law in force from one day to another (both included; no end: until further
    notice). Rows of the same kind (`same_kind_fields`) never cover the same day, so each day has
    one answer: these model rules refuse a bad row from the admin and the seed file alike."""

    same_kind_fields: tuple[str, ...] = ()

    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="The last day it applies; empty: until further notice.")

    objects = DatedRuleQuerySet.as_manager()

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="%(class)s_ends_after_it_starts",
                violation_error_message="The effective to date is before the effective from date.",
            ),
        ]

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def period_label(self) -> str:
        return f"from {self.effective_from}" + (f" to {self.effective_to}" if self.effective_to else " until further notice")

    def clean(self):
        super().clean()
        if self.effective_from is None or (self.effective_to is not None and self.effective_to < self.effective_from):
            return  # the field or the date-order constraint reports that
        same_kind = {name: getattr(self, name) for name in self.same_kind_fields}
        # A row from the same first day is the unique constraint's to report, in its own words.
        others = (type(self).objects.filter(**same_kind).exclude(pk=self.pk).exclude(effective_from=self.effective_from)
                  .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=self.effective_from)))
        if self.effective_to is not None:
            others = others.filter(effective_from__lte=self.effective_to)
        clash = others.order_by("effective_from").first()
        if clash is not None:
            raise ValidationError(
                f"These dates overlap {clash}: two rows would apply on the same days. End the earlier row the day "
                f"before the later one starts, or change these dates.", code="ivu_period_overlap")


class IvuRate(DatedRule):
    """An IVU rate of one jurisdiction over a period (seeds/ivu.json, the admin): a change of law
    is the old row ended and a new row, never new code."""

    same_kind_fields = ("jurisdiction",)

    jurisdiction = models.CharField(max_length=10, choices=Jurisdiction.choices)
    rate = models.DecimalField(max_digits=6, decimal_places=4, help_text="A fraction, as the tills send it: 0.105 is 10.5 %.")

    class Meta(DatedRule.Meta):
        ordering = ["jurisdiction", "effective_from"]
        constraints = [
            *DatedRule.Meta.constraints,
            models.UniqueConstraint(fields=["jurisdiction", "effective_from"], name="ivu_rate_one_per_day",
                                    violation_error_message="This jurisdiction already has a rate from that day."),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=1), name="ivu_rate_a_fraction",
                                   violation_error_message="The rate is a fraction from 0 to 1 (0 %% to 100 %%): "
                                                           "10.5 %% is 0.105."),
        ]

    def __str__(self) -> str:
        return f"the {self.jurisdiction} rate {self.percent} {self.period_label()}"

    @property
    def percent(self) -> str:
        return f"{(self.rate * 100).normalize():f} %" if self.rate is not None else ""


class IvuExemption(DatedRule):
    """A product tax category exempt from IVU over a period (prescription medicines, …)."""

    same_kind_fields = ("tax_category",)

    tax_category = models.CharField(max_length=40, help_text="Exactly as the tills send it on sale lines, e.g. prescription.")
    description = models.CharField(max_length=200, blank=True)

    class Meta(DatedRule.Meta):
        ordering = ["tax_category", "effective_from"]
        constraints = [
            *DatedRule.Meta.constraints,
            models.UniqueConstraint(fields=["tax_category", "effective_from"], name="ivu_exemption_once",
                                    violation_error_message="This category already has an exemption from that day."),
        ]

    def __str__(self) -> str:
        return f"the exemption of {self.tax_category} {self.period_label()}"


class IvuFiling(models.Model):
    """A merchant's IVU return for one month: prepared by the monthly tax batch (figures frozen
    once filed), reminded before the 20th while unfiled, marked filed with SURI's confirmation."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="ivu_filings")
    period = models.DateField(help_text="The first day of the month the return covers.")
    sales_count = models.PositiveIntegerField(default=0)
    taxable_sales = models.DecimalField(max_digits=14, decimal_places=2)
    exempt_sales = models.DecimalField(max_digits=14, decimal_places=2)
    state_due = models.DecimalField(max_digits=14, decimal_places=2)
    municipal_due = models.DecimalField(max_digits=14, decimal_places=2)
    state_collected = models.DecimalField(max_digits=14, decimal_places=2)
    municipal_collected = models.DecimalField(max_digits=14, decimal_places=2)
    problems = models.TextField(blank=True)
    prepared_at = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    filed_at = models.DateTimeField(null=True, blank=True)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    confirmation = models.CharField(max_length=40, blank=True, help_text="SURI's confirmation number.")

    class Meta:
        ordering = ["-period"]
        constraints = [models.UniqueConstraint(fields=["merchant", "period"], name="ivu_filing_one_per_month")]

    def __str__(self) -> str:
        return f"{self.merchant_id} IVU {self.period:%Y-%m}"

    @property
    def total_due(self):
        return self.state_due + self.municipal_due

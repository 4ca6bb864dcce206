from django.conf import settings
from django.db import models

from merchants.store.models import TaxJurisdiction as Jurisdiction


class IvuRate(models.Model):
    """An IVU rate from a date on (seeds/ivu.json): a change of law is a new row, not new code."""

    jurisdiction = models.CharField(max_length=10, choices=Jurisdiction.choices)
    rate = models.DecimalField(max_digits=6, decimal_places=4)
    effective_from = models.DateField()

    class Meta:
        ordering = ["jurisdiction", "effective_from"]
        constraints = [models.UniqueConstraint(fields=["jurisdiction", "effective_from"], name="ivu_rate_one_per_day")]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.rate} from {self.effective_from}"


class IvuExemption(models.Model):
    """A product tax category exempt from IVU between two dates (prescription medicines, …)."""

    tax_category = models.CharField(max_length=40)
    description = models.CharField(max_length=200, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["tax_category", "effective_from"]
        constraints = [models.UniqueConstraint(fields=["tax_category", "effective_from"], name="ivu_exemption_once")]

    def __str__(self) -> str:
        return f"{self.tax_category} exempt from {self.effective_from}"


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

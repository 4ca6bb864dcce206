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

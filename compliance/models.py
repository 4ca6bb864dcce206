"""Card data discovery's records: each scan, what it found, and each table it redacted (the audit).
They hold where a card number was and its first 6 and last 4 digits, never the number."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ScanStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


class CardScan(models.Model):
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ScanStatus.choices, default=ScanStatus.RUNNING)
    redact = models.BooleanField(default=False, help_text="Whether each card number found was masked in place.")
    requested_by = models.CharField(max_length=150, help_text="The operator, or the weekly schedule.")
    schemas_scanned = models.PositiveIntegerField(default=0)
    tables_scanned = models.PositiveIntegerField(default=0)
    hit_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"card data scan {timezone.localtime(self.started_at):%Y-%m-%d %H:%M} ({self.hit_count} found)"


class CardScanHit(models.Model):
    scan = models.ForeignKey(CardScan, on_delete=models.CASCADE, related_name="hits")
    schema = models.CharField(max_length=63)
    table = models.CharField(max_length=63)
    row_key = models.CharField(max_length=64)
    column = models.CharField(max_length=63)
    path = models.CharField(max_length=300, blank=True, help_text="Where inside a JSON value.")
    shown = models.CharField(max_length=12, help_text="First 6 and last 4 digits, never more.")
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False, related_name="+"
    )
    redacted = models.BooleanField(default=False)
    # For an event: the receivers it was already delivered to, which hold their own copy. The
    # merchant is shown these until one of its admins says the receivers were asked to delete them.
    delivered_to = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["schema", "table", "row_key", "column", "path"]

    def __str__(self) -> str:
        return f"{self.schema}.{self.table} #{self.row_key} {self.column} {self.path}".rstrip()


class CardRedaction(models.Model):
    """The audit of one table's redaction: written in the same transaction as its updates."""

    scan = models.ForeignKey(CardScan, on_delete=models.CASCADE, related_name="redactions")
    schema = models.CharField(max_length=63)
    table = models.CharField(max_length=63)
    rows = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    actor = models.CharField(max_length=150)
    redacted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-redacted_at"]

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}: {self.rows} rows masked by {self.actor}"

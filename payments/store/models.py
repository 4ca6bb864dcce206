"""A merchant's payments data, in its own schema. Processor integrations live in the public schema,
so they are named here by id (`merchant_integration_id`), not by a foreign key across schemas."""

import uuid

from django.db import models
from django.db.models import Q

from merchants.store.models import Sale, Tender


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # sent, its outcome not known yet: the hub asks again until it is
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    """A refund of a card tender made from the portal, through the processor that took it. Its id is
    the idempotency key the processor sees: the form carries it, so a double click or a retry is the
    same refund. Once it succeeds, the return is recorded against the sale as a POS return would be
    (`return_sale`), so it reaches the books and the IVU return."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # The sale and its return go with the books' retention, the refund with its own (a little later):
    # no constraint ties their deletions together.
    sale = models.ForeignKey(Sale, on_delete=models.DO_NOTHING, related_name="refunds", db_constraint=False)
    tender = models.ForeignKey(Tender, on_delete=models.DO_NOTHING, related_name="refunds", db_constraint=False)
    merchant_integration_id = models.BigIntegerField(help_text="The processor's integration (public schema).")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    processor_ref = models.CharField(max_length=64, help_text="The payment refunded, at the processor.")
    refund_ref = models.CharField(max_length=64, blank=True, help_text="The refund's own id at the processor.")
    last_error = models.JSONField(default=dict, blank=True, help_text="{code, params}: why it is pending or failed.")
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    requested_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    return_sale = models.OneToOneField(Sale, null=True, blank=True, on_delete=models.DO_NOTHING,
                                       related_name="refund_recorded", db_constraint=False)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]
        indexes = [models.Index(fields=["status", "requested_at"], condition=Q(status="pending"),
                                name="refund_pending")]

    def __str__(self) -> str:
        return f"refund {self.amount} of {self.processor_ref} ({self.status})"


class SettledKind(models.TextChoices):
    SALE = "sale", "Sale"
    REFUND = "refund", "Refund"
    CHARGEBACK = "chargeback", "Chargeback"
    ADJUSTMENT = "adjustment", "Adjustment"
    VOID = "void", "Void"  # a payment the processor lists as voided: it never settles


class SettledTransaction(models.Model):
    """One row of what a processor settled, as its settlement listing gave it for a business date."""

    merchant_integration_id = models.BigIntegerField()
    business_date = models.DateField()
    transaction_ref = models.CharField(max_length=64)
    processor_ref = models.CharField(max_length=64)
    original_ref = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=12, choices=SettledKind.choices)
    gross = models.DecimalField(max_digits=12, decimal_places=2)
    fee = models.DecimalField(max_digits=12, decimal_places=2)
    net = models.DecimalField(max_digits=12, decimal_places=2)
    transacted_at = models.DateTimeField()
    auth_code = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    terminal = models.CharField(max_length=64, blank=True)
    payout_ref = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant_integration_id", "transaction_ref"],
                                               name="settled_once_per_processor")]
        indexes = [models.Index(fields=["business_date", "merchant_integration_id"], name="settled_by_day"),
                   models.Index(fields=["processor_ref"], name="settled_by_reference")]

    def __str__(self) -> str:
        return f"{self.kind} {self.gross} {self.processor_ref}"


class ProcessorPayout(models.Model):
    merchant_integration_id = models.BigIntegerField()
    payout_ref = models.CharField(max_length=64)
    arrival_date = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant_integration_id", "payout_ref"],
                                               name="payout_once_per_processor")]

    def __str__(self) -> str:
        return f"payout {self.payout_ref} {self.amount}"


class Outcome(models.TextChoices):
    """What reconciliation made of a POS card tender or a processor row."""

    MATCHED = "matched", "Matched"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount differs"
    OTHER_DAY = "other_day", "Settled on another day"
    POS_ONLY = "pos_only", "At the till only"
    PROCESSOR_ONLY = "processor_only", "At the processor only"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"
    CHARGEBACK = "chargeback", "Chargeback"
    ADJUSTMENT = "adjustment", "Fee or adjustment"


# Outcomes that leave the day's till and processor figures apart (the others explain themselves).
DISCREPANCIES = (Outcome.AMOUNT_MISMATCH, Outcome.POS_ONLY, Outcome.PROCESSOR_ONLY, Outcome.VOIDED,
                 Outcome.CHARGEBACK, Outcome.ADJUSTMENT)


class ReconciliationItem(models.Model):
    """One tender or processor row of a reconciled business date, with what it came to. Written by
    `payments.reconcile` in a few set-based statements; a new run of the day replaces them."""

    merchant_integration_id = models.BigIntegerField()
    business_date = models.DateField()
    location_code = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    matched_by = models.CharField(max_length=10, blank=True, help_text="reference, or auth (code + last 4 + amount).")
    # Derived rows, rebuilt by every run from ids the matching itself read: no constraint to check at
    # commit (1.5 M a month cost 9 s of foreign-key checks), and none to hold a tender's retention up.
    tender = models.ForeignKey(Tender, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                               db_constraint=False)
    settled = models.ForeignKey(SettledTransaction, null=True, blank=True, on_delete=models.DO_NOTHING,
                                related_name="+", db_constraint=False)
    pos_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    processor_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    fee = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant_integration_id", "business_date", "outcome"],
                                name="reconciled_by_day")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.outcome}"


class DayStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete"  # the processor could not be read: never shown as matched


class ReconciliationDay(models.Model):
    """A business date's reconciliation against one processor: whether it is complete, when it ran,
    and why not (a stored message) when it could not be."""

    merchant_integration_id = models.BigIntegerField()
    business_date = models.DateField()
    status = models.CharField(max_length=10, choices=DayStatus.choices)
    reconciled_at = models.DateTimeField()
    error = models.JSONField(default=dict, blank=True)
    # {outcome: [count, pos_amount, processor_amount]} and the day's totals, for pages and alerts.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant_integration_id", "business_date"],
                                               name="reconciliation_day_once")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"

"""Refunds from the portal: a merchant admin refunds all or part of a past sale's card tender
through the processor that took it.

Once, whatever happens: the refund's id (carried by the form) is the processor's idempotency key,
and its row is locked while the processor is asked, so a double click, a retry or two tabs make one
refund. A refusal (more than what is left, a declined refund) records nothing and shows the
processor's words. An unknown outcome (a timeout, the processor down) keeps the refund pending and
the hub asks again with the same key until it knows. A refund that succeeded is recorded against
the sale as the return a POS would upload (lines, IVU and a negative card tender, pro rata), so the
books and the IVU return see it, and `refund.succeeded` is published with it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context

from devices.sales import sale_record
from events.publish import publish
from integrations.connectors.registry import connector_for
from integrations.models import MerchantIntegration, Status
from merchants.models import Location, Merchant
from merchants.store.models import Sale, Tender, TenderKind
from payments.gateways.port import GatewayRefused, RefundResult, RefundState
from payments.processors import payment_integrations_all, processor_for
from payments.store.models import Refund, RefundStatus
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotFound, ValidationFailed
from qiiub.http import AuthExpired, ConnectorError, VendorRejected
from qiiub.money import money_text

logger = logging.getLogger(__name__)

CENT, THOUSANDTH = Decimal("0.01"), Decimal("0.001")
RESUME_AFTER = timedelta(minutes=1)  # a pending refund is asked again after this long
# The processor said no (more than is left, a declined refund, credentials refused): nothing to ask
# again. Anything else (no answer, an unknown outcome, an answer refused by the card guard) waits.
REFUSALS = (VendorRejected, AuthExpired)


def left_to_refund(tender: Tender, refunds) -> Decimal:
    """What is left to refund of a tender: its amount less every refund of it that has not failed
    (a pending one may have been made, so it counts until the processor says otherwise)."""
    return tender.amount - sum((refund.amount for refund in refunds if refund.status != RefundStatus.FAILED),
                               Decimal("0.00"))


def refundable_tender(*, merchant: Merchant, sale_id: int, tender_id: int) -> Tender:
    """The card tender of one of the merchant's own sales, or NotFound (another merchant's sale is
    simply not there: its schema is another)."""
    with schema_context(merchant.schema_name):
        tender = Tender.objects.select_related("sale").filter(pk=tender_id, sale_id=sale_id).first()
    if tender is None:
        raise NotFound("No such sale or tender.")
    if tender.kind != TenderKind.CARD or not tender.processor_ref:
        raise ValidationFailed(_("Only a card tender with a processor reference can be refunded here."),
                               code="not_refundable")
    return tender


def _amount_of(text) -> Decimal:
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValidationFailed(_("The amount is not a number: enter an amount such as 12.50."),
                               code="refund_amount") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise ValidationFailed(_("The amount must be more than zero, in dollars and cents, such as 12.50."),
                               code="refund_amount")
    return amount


def refund_request(*, merchant: Merchant, sale_id: int, tender_id: int, amount, refund_id: uuid.UUID, by) -> Refund:
    """Refund `amount` of a card tender. Raises ValidationFailed (nothing recorded) for bad input or
    what the hub already knows is not left; a ConnectorError (nothing recorded) when the processor
    refuses. Returns the refund: succeeded, or pending when the processor's answer is not known yet."""
    ensure_no_card_data({"amount": str(amount), "refund_id": str(refund_id)}, "refund")
    amount = _amount_of(amount)
    tender = refundable_tender(merchant=merchant, sale_id=sale_id, tender_id=tender_id)
    integration = processor_for(merchant, tender)
    if integration is None:
        raise ValidationFailed(_("No active payments integration took this tender: connect its processor first."),
                               code="no_processor")
    created = False
    with schema_context(merchant.schema_name), transaction.atomic():
        # Locks the tender: two refunds of it are decided one after the other, never on a stale total.
        tender = Tender.objects.select_for_update().select_related("sale").get(pk=tender.pk)
        refund = Refund.objects.filter(pk=refund_id).first()
        if refund is not None:
            if refund.tender_id != tender.pk or refund.amount != amount:
                raise ValidationFailed(_("This refund was already asked with another tender or amount: open the "
                                         "sale again."), code="refund_reused")
            if refund.status != RefundStatus.PENDING:
                return refund
        else:
            left = left_to_refund(tender, tender.refunds.all())
            if amount > left:
                raise ValidationFailed(
                    _("Only %(left)s is left to refund on this tender.") % {"left": money_text(left)},
                    code="refund_exceeds_left", field_errors={"amount": [money_text(left)]})
            # Committed before the processor is asked: whatever happens next, the refund is not lost.
            refund = Refund.objects.create(
                id=refund_id, sale=tender.sale, tender=tender, merchant_integration_id=integration.pk, amount=amount,
                processor_ref=tender.processor_ref, requested_by_id=getattr(by, "pk", None),
                requested_at=timezone.now())
            created = True
    asked = _ask_processor(merchant, integration, refund.pk, first=created)
    if asked is None:
        raise ValidationFailed(_("The processor refused this refund: nothing was refunded."), code="refund_refused")
    return asked


def refund_resume(*, merchant: Merchant, refund_id: uuid.UUID) -> Refund | None:
    """Ask the processor again about a pending refund (same key: one refund however often asked)."""
    with schema_context(merchant.schema_name):
        integration_id = Refund.objects.filter(pk=refund_id, status=RefundStatus.PENDING).values_list(
            "merchant_integration_id", flat=True).first()
    if integration_id is None:
        return None
    integration = MerchantIntegration.objects.filter(pk=integration_id).first()
    if integration is None or integration.status != Status.ACTIVE:
        return None  # asked again once the integration is back
    try:
        return _ask_processor(merchant, integration, refund_id, first=False)
    except REFUSALS:
        return None  # recorded as failed


def refunds_resume_pending() -> int:
    """Every refund pending for longer than RESUME_AFTER, asked again; one query per merchant with
    an active processor (refunds are few, and pending ones fewer)."""
    asked = 0
    merchant_ids = payment_integrations_all().values_list("merchant_id", flat=True).distinct()
    for merchant in Merchant.objects.filter(pk__in=merchant_ids):
        with schema_context(merchant.schema_name):
            pending = list(Refund.objects.filter(status=RefundStatus.PENDING,
                                                 requested_at__lt=timezone.now() - RESUME_AFTER)
                           .values_list("pk", flat=True))
        for refund_id in pending:
            refund_resume(merchant=merchant, refund_id=refund_id)
            asked += 1
    return asked


def _ask_processor(merchant: Merchant, integration: MerchantIntegration, refund_id: uuid.UUID, *,
                   first: bool) -> Refund | None:
    """Ask the processor with the refund's own key, its row locked meanwhile (a second ask of the same
    refund waits, then finds it settled), and record the answer in the same transaction. Should
    anything fail after the processor said yes, the refund stays pending and the next ask, with the
    same key, finds the refund made. A refusal on the first ask removes the refund (nothing is
    recorded) and is raised; on a later ask it is recorded as failed. Returns None when the refund
    is gone (refused meanwhile)."""
    refusal: ConnectorError | None = None
    with schema_context(merchant.schema_name), transaction.atomic():
        refund = Refund.objects.select_for_update().select_related("sale", "tender").filter(pk=refund_id).first()
        if refund is None or refund.status != RefundStatus.PENDING:
            return refund
        refund.attempts += 1
        try:
            result = connector_for(integration).refund(processor_ref=refund.processor_ref, amount=refund.amount,
                                                       idempotency_key=str(refund.id))
        except REFUSALS as error:
            refusal = error
        except ConnectorError as error:  # no answer, or one that cannot be read: the outcome is unknown
            _wait(merchant, refund, error.stored())
        else:
            if result.state == RefundState.SUCCEEDED:
                _succeeded(merchant, refund, result)
            elif result.state == RefundState.FAILED:
                refusal = GatewayRefused("refund_failed_at_processor", vendor=integration.definition.name,
                                         status=result.refund_ref)
            else:
                refund.refund_ref = result.refund_ref
                _wait(merchant, refund, {"code": "refund_pending_at_processor",
                                         "params": {"vendor": integration.definition.name}})
        if refusal is not None:
            if first:
                refund.delete()
            else:
                _close(refund, RefundStatus.FAILED, last_error=refusal.stored())
    if refusal is not None:
        raise refusal
    return refund


def _wait(merchant: Merchant, refund: Refund, reason: dict) -> None:
    refund.last_error = reason
    refund.save(update_fields=["attempts", "last_error", "refund_ref"])
    transaction.on_commit(lambda: _schedule_resume(merchant, refund))


def _close(refund: Refund, status: str, **fields) -> None:
    for name, value in {"status": status, "completed_at": timezone.now(), **fields}.items():
        setattr(refund, name, value)
    refund.save()


def _succeeded(merchant: Merchant, refund: Refund, result: RefundResult) -> Refund:
    refund.refund_ref = result.refund_ref
    sale = refund.sale
    location = Location.objects.get(merchant=merchant, code=sale.location_code)
    return_uuid, _ = sale_record(merchant=merchant, location=location, sale=return_of(sale, refund.tender, refund))
    _close(refund, RefundStatus.SUCCEEDED, last_error={},
           return_sale=Sale.objects.get(client_uuid=return_uuid))
    publish(event_type="refund.succeeded", merchant=merchant, location=location, payload={
        "refund_id": str(refund.id), "sale_id": str(sale.client_uuid), "return_sale_id": return_uuid,
        "location_code": sale.location_code, "amount": str(refund.amount), "refund_ref": refund.refund_ref})
    logger.info("payments.refund_succeeded", extra={"refund_id": str(refund.id), "integration_id":
                                                     refund.merchant_integration_id})
    return refund


def _schedule_resume(merchant: Merchant, refund: Refund) -> None:
    from payments.tasks import refund_resume_task

    refund_resume_task.apply_async((merchant.pk, str(refund.id)), countdown=RESUME_AFTER.total_seconds())


def _share(amount: Decimal, share: Decimal, exponent: Decimal = CENT) -> Decimal:
    return (amount * share).quantize(exponent, ROUND_HALF_UP)


def return_of(sale: Sale, tender: Tender, refund: Refund) -> dict:
    """The POS-shaped return of `refund.amount` of `sale`: each line, IVU line and the card tender,
    negated pro rata, rounding remainders put on the largest line so everything adds up exactly."""
    share = refund.amount / sale.total
    tax_state, tax_municipal = -_share(sale.tax_state, share), -_share(sale.tax_municipal, share)
    subtotal = -refund.amount - tax_state - tax_municipal
    lines = [{"sku": line.sku, "description": line.description, "tax_category": line.tax_category,
              "quantity": -_share(line.quantity, share, THOUSANDTH), "unit_price": line.unit_price,
              "line_total": -_share(line.line_total, share)} for line in sale.lines.order_by("pk")]
    _absorb(lines, "line_total", subtotal)
    tax_lines = []
    for jurisdiction, total in (("state", tax_state), ("municipal", tax_municipal)):
        mine = [{"jurisdiction": jurisdiction, "rate": tax.rate, "taxable_amount": -_share(tax.taxable_amount, share),
                 "amount": -_share(tax.amount, share)} for tax in sale.tax_lines.filter(jurisdiction=jurisdiction)]
        _absorb(mine, "amount", total)
        tax_lines += mine
    return {
        "client_uuid": str(refund.id), "completed_at": timezone.now().isoformat(),
        "subtotal": str(subtotal), "tax_state": str(tax_state), "tax_municipal": str(tax_municipal),
        "total": str(-refund.amount),
        "lines": [{**line, "quantity": str(line["quantity"]), "unit_price": str(line["unit_price"]),
                   "line_total": str(line["line_total"])} for line in lines],
        "tax_lines": [{**tax, "rate": str(tax["rate"]), "taxable_amount": str(tax["taxable_amount"]),
                       "amount": str(tax["amount"])} for tax in tax_lines],
        "tenders": [{"kind": "card", "amount": str(-refund.amount), "card_brand": tender.card_brand,
                     "card_last4": tender.card_last4, "entry_method": tender.entry_method,
                     "processor_ref": refund.refund_ref}],
    }


def _absorb(rows: list[dict], field: str, total: Decimal) -> None:
    """Put the rounding remainder on the largest row, so `field` adds up to `total` exactly."""
    if not rows:
        return
    remainder = total - sum((row[field] for row in rows), Decimal("0"))
    max(rows, key=lambda row: abs(row[field]))[field] += remainder

"""The IVU return's monthly cycle: prepared on the 1st by the tax batch, a reminder to the merchant's
admins before the 20th (SURI's due date) while it is not filed, then marked filed with SURI's
confirmation number. SURI has no filing API: a person files the figures in SURI's web portal."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import Merchant
from merchants.selectors import merchant_admin_emails
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotAllowed, ValidationFailed
from qiiub.mail import email_send
from taxes.ivu import ivu_return
from taxes.models import IvuFiling, Jurisdiction

logger = logging.getLogger(__name__)

DUE_DAY = 20  # the return is due on the 20th of the following month
SURI_CODE = "tax.suri_ivu"
REMIND_DAYS_BEFORE = 5  # unless the SURI integration's configuration says otherwise
_CONFIRMATION = re.compile(r"^[A-Za-z0-9-]{4,40}$")


def due_date(period: date) -> date:
    following = date(period.year + (period.month == 12), period.month % 12 + 1, 1)
    return following.replace(day=DUE_DAY)


def previous_month(merchant: Merchant, *, now: datetime | None = None) -> date:
    today = (now or timezone.now()).astimezone(ZoneInfo(merchant.time_zone)).date()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def filing_prepare(*, merchant: Merchant, period: date) -> IvuFiling:
    """Compute the month's return and keep it; a later run updates it (late uploads) until it is
    filed, after which its figures are what was filed and never change. The admins are told once
    that it is ready."""
    result = ivu_return(merchant=merchant, year=period.year, month=period.month)
    figures = {
        "sales_count": result.sales_count, "taxable_sales": result.taxable_sales, "exempt_sales": result.exempt_sales,
        "state_due": result.due[Jurisdiction.STATE], "municipal_due": result.due[Jurisdiction.MUNICIPAL],
        "state_collected": result.collected[Jurisdiction.STATE],
        "municipal_collected": result.collected[Jurisdiction.MUNICIPAL],
        "problems": "\n".join(result.problems), "prepared_at": timezone.now(),
    }
    with transaction.atomic():
        filing = IvuFiling.objects.select_for_update().filter(merchant=merchant, period=period).first()
        if filing is not None and filing.filed_at:
            return filing
        if filing is None:
            filing = IvuFiling.objects.create(merchant=merchant, period=period, **figures)
            transaction.on_commit(lambda: _send(filing.pk, "ready"))
        else:
            IvuFiling.objects.filter(pk=filing.pk).update(**figures)
            filing.refresh_from_db()
    return filing


def filing_mark_filed(*, filing: IvuFiling, confirmation: str, by) -> IvuFiling:
    confirmation = confirmation.strip()
    ensure_no_card_data({"confirmation": confirmation})
    if not _CONFIRMATION.match(confirmation):
        raise ValidationFailed(_("Enter SURI's confirmation number (4 to 40 letters, digits or dashes)."),
                               field_errors={"confirmation": [_("4 to 40 letters, digits or dashes.")]})
    with transaction.atomic():
        filing = IvuFiling.objects.select_for_update().get(pk=filing.pk)
        if filing.filed_at:
            raise NotAllowed(_("This return was already marked filed on %(day)s (confirmation %(confirmation)s).")
                             % {"day": f"{filing.filed_at:%Y-%m-%d}", "confirmation": filing.confirmation},
                             code="already_filed")
        filing.filed_at, filing.filed_by, filing.confirmation = timezone.now(), by, confirmation
        filing.save(update_fields=["filed_at", "filed_by", "confirmation"])
    logger.info("ivu.filed", extra={"filing_id": filing.pk, "by": getattr(by, "pk", None)})
    return filing


def reminders_send(*, now: datetime | None = None) -> int:
    """Remind, once, about every unfiled return whose due date is near in its merchant's time zone
    (the hourly beat task). Returns how many reminders went out."""
    from integrations.models import MerchantIntegration

    now = now or timezone.now()
    unfiled = list(IvuFiling.objects.filter(filed_at__isnull=True, reminded_at__isnull=True).select_related("merchant"))
    days_before = {
        integration.merchant_id: integration.configuration.get("reminder_days_before_due", REMIND_DAYS_BEFORE)
        for integration in MerchantIntegration.objects.filter(
            definition__code=SURI_CODE, merchant_id__in={filing.merchant_id for filing in unfiled})
    }
    sent = 0
    for filing in unfiled:
        today = now.astimezone(ZoneInfo(filing.merchant.time_zone)).date()
        remind_from = due_date(filing.period) - timedelta(days=days_before.get(filing.merchant_id, REMIND_DAYS_BEFORE))
        if today < remind_from:
            continue
        # Claimed before sending, so two beat runs never remind twice.
        if IvuFiling.objects.filter(pk=filing.pk, reminded_at__isnull=True).update(reminded_at=now):
            transaction.on_commit(lambda pk=filing.pk: _send(pk, "reminder"))
            sent += 1
    return sent


def _send(filing_id: int, kind: str) -> None:
    filing = IvuFiling.objects.select_related("merchant").get(pk=filing_id)
    recipients = merchant_admin_emails(filing.merchant_id)
    if not recipients:
        logger.warning("ivu.no_recipients", extra={"filing_id": filing_id})
        return
    email_send(kind=f"ivu_return_{kind}", to=recipients, language=filing.merchant.language, context={
        "filing": filing, "merchant": filing.merchant.name, "period": filing.period, "due": due_date(filing.period)})
    logger.info("ivu.email_sent", extra={"filing_id": filing_id, "kind": kind})

"""A partner's merchant page in Debian chromium: a day held back by an unmapped tender, the run
that says so, the mapping fixed inline (htmx), and the run again posting the day."""

import os
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from integrations.models import MerchantIntegration, SyncStatus
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from tests.browser.conftest import sign_in
from tests.factories import QUICKBOOKS_ACCOUNTS, quickbooks_connected, sell

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))
SAN_JUAN = ZoneInfo("America/Puerto_Rico")


def test_partner_admin_sees_the_held_day_fixes_the_mapping_and_the_day_posts(committed, portal_server, page,
                                                                              quickbooks_fake):
    # given Farmacia Arecibo's QuickBooks without a mapping for checks, and a check sale yesterday
    arecibo = committed.pharmacies[4]
    qbo = quickbooks_connected(arecibo, {key: value for key, value in QUICKBOOKS_ACCOUNTS.items()
                                         if key != ("PaymentMethod", "CHECK")})
    yesterday = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    sell(arecibo, at=datetime.combine(yesterday, time(10), tzinfo=SAN_JUAN),
         tenders=[{"kind": "check", "amount": "11.15", "reference": "2201"}])
    log = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo.pk), due=SCHEDULED_BATCHES)
    assert log.status == SyncStatus.PARTIAL

    # when the partner admin opens the integration: the run names the code, the button counts it
    sign_in(page, portal_server, "pharmatech-admin")
    page.goto(f"{portal_server}/portal/m/{arecibo.slug}/integrations/{qbo.pk}/")
    assert "1 to map" in page.inner_text(".actions")
    page.click(f"a[href$='/syncs/{log.pk}/']")
    page.wait_for_selector("text=map PaymentMethod CHECK")
    page.screenshot(path=SCREENSHOTS / "merchant-sync-run-partial.png", full_page=True)

    # and fixes the mapping inline
    page.click("text=Fix the mappings")
    page.wait_for_selector("#mapping-PaymentMethod-CHECK")
    assert "used, not mapped" in page.inner_text("#mapping-PaymentMethod-CHECK")
    page.select_option("#target-PaymentMethod-CHECK", "38")  # picked from the QuickBooks chart
    page.click("#mapping-PaymentMethod-CHECK button")
    page.wait_for_selector("#mapping-PaymentMethod-CHECK >> text=Saved.")
    page.screenshot(path=SCREENSHOTS / "merchant-mappings.png", full_page=True)

    # then the next run posts the held day
    after = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo.pk), due=SCHEDULED_BATCHES)
    assert after.status == SyncStatus.SUCCESS and len(quickbooks_fake.posted()["journal_entries"]) == 1
    assert page.js_errors == []

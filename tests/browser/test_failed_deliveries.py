"""Failed deliveries in Debian chromium, retried on a real worker: the merchant admin's Retry on the
integration page, and SystemAdmin's replay and force-pause in the Django admin."""

import os
import tempfile
import time
from pathlib import Path

import pytest

from events.bus import CeleryBus
from events.models import DeliveryStatus, EventDelivery
from integrations.models import MerchantIntegration, PausedReason, Status
from tests.browser.conftest import sign_in
from tests.integrations.test_events import _dead_delivery

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))


@pytest.fixture
def dead_delivery(committed, simulator, celery_worker_process, request):
    """A delivery the sandbox ledger refused until it was dead. The test process's relay messages go
    to a queue nobody reads while it is made, so the worker cannot race its set-up."""
    from qiiub.celery import app

    queue, app.conf.task_default_queue = app.conf.task_default_queue, f"{app.conf.task_default_queue}-nobody"
    try:
        yield _dead_delivery(committed, simulator, f"tok-browser-{request.node.name[-12:]}")
    finally:
        app.conf.task_default_queue = queue
        CeleryBus().clear_relay_wake()


def wait_for_status(delivery: EventDelivery, status: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        delivery.refresh_from_db()
        if delivery.status == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"delivery {delivery.pk} still {delivery.status}")


def test_merchant_admin_sees_a_failed_delivery_and_retries_it(portal_server, page, dead_delivery):
    ledger, delivery = dead_delivery
    sign_in(page, portal_server, "colmado-admin")
    page.goto(f"{portal_server}/portal/m/{ledger.merchant.slug}/integrations/{ledger.pk}/")
    assert "answered 500." in page.content(), page.inner_text("body")[:600]
    page.screenshot(path=SCREENSHOTS / "merchant-failed-delivery.png", full_page=True)

    page.click(f"form[action$='/deliveries/{delivery.pk}/retry/'] button")

    wait_for_status(delivery, DeliveryStatus.SUCCEEDED)
    page.reload()
    assert page.locator(f"form[action$='/deliveries/{delivery.pk}/retry/']").count() == 0
    assert page.js_errors == []


def test_system_admin_replays_a_dead_delivery_then_force_pauses_the_integration(portal_server, page,
                                                                               dead_delivery):
    ledger, delivery = dead_delivery
    sign_in(page, portal_server, "sysadmin")

    # the dead letters, filtered; replay the one
    page.goto(f"{portal_server}/admin/integrations/eventdelivery/?status__exact=dead")
    page.check(f"input[name=_selected_action][value='{delivery.pk}']")
    page.select_option("select[name=action]", "replay_selected")
    page.screenshot(path=SCREENSHOTS / "sysadmin-dead-letters.png", full_page=True)
    page.click("button[name=index]")
    page.wait_for_selector("text=Replayed 1 delivery.")
    wait_for_status(delivery, DeliveryStatus.SUCCEEDED)

    # force-pause every installation of the integration
    page.goto(f"{portal_server}/admin/integrations/integrationdefinition/?q={ledger.definition.code}")
    page.check(f"input[name=_selected_action][value='{ledger.definition.pk}']")
    page.select_option("select[name=action]", "force_pause_all")
    page.click("button[name=index]")
    page.click("input[type=submit][value='Yes, force-pause them']")
    page.wait_for_selector("ul.messagelist li")
    ledger.refresh_from_db()
    assert ledger.status == Status.PAUSED and ledger.paused_reason == PausedReason.FORCED
    assert MerchantIntegration.objects.filter(definition=ledger.definition, status=Status.ACTIVE).count() == 0
    assert page.js_errors == []

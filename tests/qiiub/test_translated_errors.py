"""Refusals reach each person in their language (ADR 0020): a Spanish-speaking merchant admin reads
the service's refusal in Spanish, an admin who chose English reads it in English, and the refusal's
code is the same in both. What is stored for others to read later stays in English."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from integrations.models import MerchantIntegration, PausedReason, Status
from integrations.services import configuring, enabling, transitions
from merchants.models import Role
from merchants.services import membership_grant
from partners.models import BulkAction, BulkOutcome
from partners.services import bulk
from qiiub.errors import NotAllowed, ValidationFailed
from tests.factories import definition
from tests.partners.conftest import add_stores
from webhooks.models import WebhookEndpoint
from webhooks.services import send_event, webhook_endpoint_create
from webhooks.targets import TargetRefused

NO_CREDENTIALS = {"es": "Entre las credenciales antes de probar la conexión.",
                  "en": "Enter the credentials before testing the connection."}
ENABLED_TWICE = {"es": "Acumatica ya está habilitada para este comercio.",
                 "en": "Acumatica is already enabled for this merchant."}
FORCED_PAUSE = {"es": "El equipo de operaciones de QIIUB pausó esta integración; solo ese equipo puede reanudarla.",
                "en": "QIIUB operations paused this integration; only they can resume it."}


@pytest.fixture(autouse=True)
def _english_afterwards():
    # A request activates its user's language in this thread; the next test starts in English.
    yield
    translation.deactivate()


def _readers(personas) -> dict:
    """San Juan (language "es") has a new admin who chose nothing, and the persona who chose English."""
    assert personas.san_juan.language == "es"
    spanish = get_user_model().objects.create_user("sanjuan-refusals", "refusals@example.com", "x")
    membership_grant(user=spanish, role=Role.MERCHANT_ADMIN, merchant=personas.san_juan)
    return {"es": spanish, "en": personas.merchant_admin}


def _portal_post(client, user, url: str):
    client.force_login(user)
    page = client.post(url, follow=True)
    return page.headers["Content-Language"], page.content.decode()


def test_testing_the_connection_before_entering_the_credentials_is_refused_in_the_admins_language(client, personas):
    # given Acumatica enabled at San Juan, with no credentials yet
    integration = enabling.merchant_integration_enable(merchant=personas.san_juan,
                                                        definition=definition("erp.acumatica"), by=None)
    url = reverse("portal:test", args=[personas.san_juan.slug, integration.pk])

    for language, user in _readers(personas).items():
        other = "en" if language == "es" else "es"

        # when each admin tests the connection
        served_in, page = _portal_post(client, user, url)

        # then the refusal is in their language, and only in it
        assert served_in == language
        assert NO_CREDENTIALS[language] in page and NO_CREDENTIALS[other] not in page

    # and nothing was tested; the service refuses with the same code whatever the language
    integration.refresh_from_db()
    assert integration.last_test_at is None and not integration.last_test_ok
    for language in ("es", "en"):
        with translation.override(language), pytest.raises(ValidationFailed) as refused:
            configuring.merchant_integration_test_connection(integration=integration, by=None)
        assert refused.value.code == "no_credentials" and refused.value.message == NO_CREDENTIALS[language]


def test_enabling_an_integration_twice_is_refused_in_the_admins_language(client, personas):
    readers = _readers(personas)
    url = reverse("portal:enable", args=[personas.san_juan.slug, "erp.acumatica"])
    client.force_login(readers["es"])
    client.post(url)  # enabled once
    assert MerchantIntegration.objects.filter(merchant=personas.san_juan, definition__code="erp.acumatica").count() == 1

    for language, user in readers.items():
        served_in, page = _portal_post(client, user, url)

        assert served_in == language and ENABLED_TWICE[language] in page
    assert MerchantIntegration.objects.filter(merchant=personas.san_juan, definition__code="erp.acumatica").count() == 1
    with translation.override("es"), pytest.raises(NotAllowed) as refused:
        enabling.merchant_integration_enable(merchant=personas.san_juan, definition=definition("erp.acumatica"),
                                              by=None)
    assert refused.value.code == "already_enabled"


def test_a_bulk_jobs_outcomes_read_in_the_readers_language_whoever_ran_it(personas):
    # given a store whose Acumatica QIIUB operations paused
    store = add_stores(personas.partner, 1, prefix="tienda")[0]
    paused = MerchantIntegration.objects.create(merchant=store, definition=definition("erp.acumatica"),
                                                status=Status.PAUSED, paused_reason=PausedReason.FORCED)
    # the lifecycle answers a person in Spanish…
    with translation.override("es"), pytest.raises(NotAllowed) as refused:
        transitions.merchant_integration_resume(integration=paused, by=personas.partner_admin)
    assert refused.value.message == FORCED_PAUSE["es"]

    # …and a job run with Spanish active stores the refusal's code: an English reader reads it in English
    with translation.override("es"):
        job = bulk.bulk_job_run(job_id=bulk.bulk_job_create(
            partner=personas.partner, action=BulkAction.RESUME, definition=paused.definition,
            merchant_ids=[store.pk], by=personas.partner_admin, dry_run=False).pk)
    outcome = job.stores.get()
    assert outcome.outcome == BulkOutcome.FAILED and outcome.message == FORCED_PAUSE["en"]


def test_a_webhook_target_is_refused_in_spanish_when_created_and_recorded_in_english_when_sent(personas, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    with translation.override("es"), pytest.raises(TargetRefused) as refused:
        webhook_endpoint_create(merchant=personas.san_juan, url="http://example.com/hook", event_types=["sale.completed"])
    assert refused.value.message == "Los URL de webhooks deben usar https://."
    assert refused.value.field_errors == {"url": ["Los URL de webhooks deben usar https://."]}

    # at send time the refusal becomes the delivery's recorded error: English
    with translation.override("es"), pytest.raises(TargetRefused) as refused:
        send_event(endpoint=WebhookEndpoint(merchant=personas.san_juan, url="http://example.com/hook"),
                   event_id="evt_1", event_type="sale.completed", payload={}, occurred_at=None)
    assert refused.value.message == "Webhook URLs must use https://." and refused.value.code == "webhook_target_refused"

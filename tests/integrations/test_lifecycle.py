"""An integration's life after enabling: transitions, connection tests, failures counted toward
auto-pause and review, forced pauses, disconnect and re-enable, the audit trail."""

import pytest
from django.core import mail
from django.utils import translation

from integrations.models import (
    IntegrationMapping,
    IntegrationStatusTransition,
    MerchantIntegration,
    PausedReason,
    Status,
)
from integrations.services import configuring, enabling, health, transitions
from integrations.services.sync import merchant_integration_sync
from qiiub.errors import InvalidTransition, NotAllowed
from qiiub.http import VendorUnavailable
from qiiub.models import VaultSecret
from qiiub.retry import REVIEW_AFTER_FAILURES
from tests.factories import ACUMATICA_CONFIG, active_acumatica, definition, open_problem_causes


def test_resuming_an_active_integration_is_an_illegal_transition_and_changes_nothing(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=personas.retail_admin)
    transitions_before = integration.transitions.count()
    with pytest.raises(InvalidTransition, match="Only a paused integration can be resumed"):
        transitions.merchant_integration_resume(integration=integration, by=personas.retail_admin)
    integration.refresh_from_db()
    assert integration.status == Status.ACTIVE
    assert integration.transitions.count() == transitions_before


def test_a_transition_outside_the_allowed_table_is_refused(personas):
    integration = enabling.merchant_integration_enable(
        merchant=personas.colmado, definition=definition("accounting.xero"), by=None
    )
    with pytest.raises(InvalidTransition, match="Cannot go from Configuring to Paused"):
        transitions.merchant_integration_pause(integration=integration, by=None)
    integration.refresh_from_db()
    assert integration.status == Status.CONFIGURING
    assert integration.transitions.count() == 1


def test_activation_needs_a_passing_connection_test(personas, simulator, acumatica_fake):
    integration = enabling.merchant_integration_enable(
        merchant=personas.colmado, definition=definition("erp.acumatica"), by=None
    )
    integration = configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)
    with pytest.raises(NotAllowed, match="Test the connection"):
        transitions.merchant_integration_activate(integration=integration, by=None)

    # a test against Acumatica with refused credentials fails, and still no activation
    acumatica_fake.control(reset=True, wrong_passwords=["not-the-password"])
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": "wrong", "password": "not-the-password"}, by=None
    )
    failure = configuring.merchant_integration_test_connection(integration=integration, by=None)
    assert failure is not None and failure.code == "auth_expired"
    with pytest.raises(NotAllowed):
        transitions.merchant_integration_activate(integration=integration, by=None)

    # then good credentials, a passing test, and activation
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": "good-user", "password": "x"}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    integration = transitions.merchant_integration_activate(integration=integration, by=None)
    assert integration.status == Status.ACTIVE
    assert integration.next_poll_at is not None


def test_new_credentials_need_a_new_passing_test(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None)
    integration = transitions.merchant_integration_pause(integration=integration, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": "other", "password": "y"}, by=None
    )
    assert integration.last_test_ok is False


def test_one_or_two_failures_are_logged_and_the_third_auto_pauses_and_emails_the_merchant_admins(
    personas, simulator, acumatica_fake, django_capture_on_commit_callbacks
):
    # given an active integration whose vendor starts answering 503
    integration = active_acumatica(personas.colmado, by=personas.retail_admin, token="tok-failing")
    acumatica_fake.control(fail={"status": 503, "count": 99})

    # when it syncs three times
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
        integration.refresh_from_db()
        assert (integration.status, integration.consecutive_error_count) == (Status.ACTIVE, 2)
        assert len(mail.outbox) == 0
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))

    # then it is paused (auto), the reason is recorded, and the admins got one email with the fix
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED
    assert integration.paused_reason == PausedReason.AUTO
    assert integration.sync_logs.filter(status="failed").count() == 3
    last = integration.transitions.first()
    assert last.to_status == Status.PAUSED and last.actor is None
    assert (last.reason_code, last.reason_params["count"]) == ("auto_paused", 3)
    assert last.reason == "Paused after 3 failures in a row: Acumatica answered 503."
    with translation.override("es"):  # stored as a code: read in the reader's language
        assert last.reason == "Pausada tras 3 fallos seguidos: Acumatica respondió 503."
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@colmadorivera.local"]
    assert "pruebe la conexión y luego reanúdela" in mail.outbox[0].body  # Colmado Rivera speaks Spanish
    acumatica_fake.control(fail=None)


def test_ten_consecutive_failures_flag_the_integration_for_review(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None)
    for _ in range(REVIEW_AFTER_FAILURES - 1):
        health.merchant_integration_record_failure(integration=integration, error=VendorUnavailable("down"))
    integration.refresh_from_db()
    assert not integration.needs_review
    health.merchant_integration_record_failure(integration=integration, error=VendorUnavailable("down"))
    integration.refresh_from_db()
    assert integration.needs_review and integration.consecutive_error_count == 10


def test_expired_credentials_put_the_integration_in_error(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-revoked-later")
    acumatica_fake.control(wrong_passwords=["pw-tok-revoked-later"])
    merchant_integration_sync(integration=integration)
    integration.refresh_from_db()
    assert integration.status == Status.ERROR
    assert "Re-enter the credentials" in open_problem_causes(integration)
    acumatica_fake.control(wrong_passwords=[])


def test_resume_after_auto_pause_needs_a_passing_test_and_the_next_good_sync_resets_the_counter(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-flaky")
    acumatica_fake.control(fail={"status": 500, "count": 99})
    for _ in range(3):
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED
    with pytest.raises(NotAllowed, match="Test the connection first"):
        transitions.merchant_integration_resume(integration=integration, by=None)

    acumatica_fake.control(fail=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    integration = transitions.merchant_integration_resume(integration=integration, by=None)
    assert (integration.status, integration.paused_reason) == (Status.ACTIVE, "")
    assert integration.consecutive_error_count == 3  # a passing test is not yet a good sync
    merchant_integration_sync(integration=integration)
    integration.refresh_from_db()
    assert integration.consecutive_error_count == 0


def test_failures_that_persist_across_resumes_reach_the_review_queue(personas, simulator, acumatica_fake):
    # given an integration whose syncs keep failing although its connection test passes
    integration = active_acumatica(personas.colmado, by=None, token="tok-stubborn")
    for _ in range(3):
        health.merchant_integration_record_failure(integration=integration, error=VendorUnavailable("down"))

    # when the merchant keeps resuming it: each further failure pauses it again at once
    while MerchantIntegration.objects.get(pk=integration.pk).consecutive_error_count < REVIEW_AFTER_FAILURES:
        assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
        transitions.merchant_integration_resume(integration=integration, by=None)
        health.merchant_integration_record_failure(integration=integration, error=VendorUnavailable("down"))
        assert MerchantIntegration.objects.get(pk=integration.pk).status == Status.PAUSED

    # then the tenth consecutive failure flags it for SystemAdmin review
    integration.refresh_from_db()
    assert integration.needs_review and integration.consecutive_error_count == 10


def test_a_manual_pause_of_an_erroring_integration_resumes_only_after_a_passing_test(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-err-pause")
    acumatica_fake.control(wrong_passwords=["pw-tok-err-pause"])
    merchant_integration_sync(integration=integration)
    integration = transitions.merchant_integration_pause(integration=integration, by=None)
    with pytest.raises(NotAllowed, match="Test the connection first"):
        transitions.merchant_integration_resume(integration=integration, by=None)
    acumatica_fake.control(wrong_passwords=[])


def test_changing_the_configuration_after_a_passing_test_needs_a_new_test(personas, simulator, acumatica_fake):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition("erp.acumatica"), by=None)
    integration = configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": "u-conf", "password": "p"}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    configuring.merchant_integration_configure(
        integration=integration, configuration={**ACUMATICA_CONFIG, "instance_url": "https://elsewhere.example.com"}, by=None
    )
    with pytest.raises(NotAllowed, match="Test the connection"):
        transitions.merchant_integration_activate(integration=integration, by=None)


def test_a_forced_pause_is_lifted_only_by_a_system_admin(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None)
    paused = transitions.definition_force_pause_all(definition=integration.definition, by=personas.sysadmin, reason="vendor incident")
    assert paused >= 1
    integration.refresh_from_db()
    assert integration.paused_reason == PausedReason.FORCED
    assert integration.transitions.first().actor == personas.sysadmin
    with pytest.raises(NotAllowed, match="only they can resume"):
        transitions.merchant_integration_resume(integration=integration, by=personas.retail_admin)
    # activate is no back door: a paused integration only comes back through resume
    with pytest.raises(InvalidTransition, match="Only an integration being configured or in error"):
        transitions.merchant_integration_activate(integration=integration, by=personas.retail_admin)
    # nor is disconnect and enable again
    configuring.merchant_integration_disconnect(integration=integration, by=personas.retail_admin)
    integration = enabling.merchant_integration_enable(merchant=personas.colmado, definition=integration.definition, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": "again", "password": "p"}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    with pytest.raises(NotAllowed, match="only they can resume"):
        transitions.merchant_integration_activate(integration=integration, by=personas.retail_admin)
    integration = transitions.merchant_integration_activate(integration=integration, by=personas.sysadmin)
    assert integration.status == Status.ACTIVE and integration.paused_reason == ""


def test_disconnect_forgets_credentials_but_keeps_watermark_and_mappings_and_reenable_resumes(
    personas, simulator, django_capture_on_commit_callbacks
):
    # given an active integration that has synced once (watermark set) and has a mapping
    integration = active_acumatica(personas.colmado, by=None, token="tok-disconnect")
    merchant_integration_sync(integration=integration)
    integration.refresh_from_db()
    watermark = integration.sync_watermark
    assert watermark is not None
    IntegrationMapping.objects.create(merchant_integration=integration, map_group="Item", source_code="A", target_code="B")
    vault_key = integration.credentials_vault_key

    # when it is disconnected
    with django_capture_on_commit_callbacks(execute=True):
        integration = configuring.merchant_integration_disconnect(integration=integration, by=None)

    # then the secret is gone from the vault, the rest stays
    assert integration.status == Status.DISCONNECTED and integration.credentials_vault_key == ""
    assert not VaultSecret.objects.filter(key=vault_key).exists()
    assert integration.mappings.count() == 1 and integration.sync_watermark == watermark

    # and enabling again reuses the same row, from the kept watermark
    again = enabling.merchant_integration_enable(merchant=personas.colmado, definition=integration.definition, by=None)
    assert again.pk == integration.pk and again.status == Status.CONFIGURING and again.sync_watermark == watermark
    assert again.configuration == ACUMATICA_CONFIG


def test_every_transition_is_recorded_with_who_from_to_and_why(personas, simulator, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=personas.retail_admin)
    transitions.merchant_integration_pause(integration=integration, by=personas.retail_admin, reason="inventory count")
    rows = [(row.from_status, row.to_status, row.actor_label, row.reason) for row in
            IntegrationStatusTransition.objects.filter(merchant_integration=integration).order_by("created_at", "id")]
    assert rows == [
        ("", "configuring", "colmado-admin", "Enabled"),
        ("configuring", "active", "colmado-admin", "Connection tested and activated"),
        ("active", "paused", "colmado-admin", "inventory count"),
    ]

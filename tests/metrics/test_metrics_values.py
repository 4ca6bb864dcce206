"""What /metrics reports, checked against the rows and runs behind it."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events.models import DeliveryStatus, EventDelivery, OutboxEvent, SubscriberKind
from integrations.models import IntegrationDefinition, MerchantIntegration, Status, SyncPattern
from integrations.services.sync import merchant_integration_sync
from partners.models import BulkAction, BulkJob, BulkJobStatus
from qiiub.celery import app
from seeds.fleet import partner_fleet
from tests.broker import queue_used
from tests.factories import active_acumatica

pytestmark = pytest.mark.django_db


def _deliveries(merchant, *states: str, age: timedelta = timedelta(0)) -> list[EventDelivery]:
    """One event with a delivery in each of `states`, made `age` old."""
    event = OutboxEvent.objects.create(event_type="sale.completed", merchant=merchant, payload={},
                                       relayed_at=timezone.now())
    deliveries = EventDelivery.objects.bulk_create([
        EventDelivery(event=event, merchant=merchant, subscriber_kind=SubscriberKind.ANALYTICS,
                      subscriber_key=f"analytics:{index}", status=state, max_attempts=5, next_attempt_at=timezone.now())
        for index, state in enumerate(states)])
    EventDelivery.objects.filter(event=event).update(created_at=timezone.now() - age)
    return deliveries


def test_deliveries_are_counted_by_state_and_the_oldest_pending_one_is_aged(personas, scrape):
    # given
    before = scrape()
    _deliveries(personas.san_juan, *[DeliveryStatus.DEAD] * 3, DeliveryStatus.HELD, DeliveryStatus.SUCCEEDED)
    _deliveries(personas.colmado, DeliveryStatus.PENDING, age=timedelta(minutes=10))

    # when
    after = scrape()

    # then
    def added(state):
        return after.value("qiiub_event_deliveries", state=state) - before.value("qiiub_event_deliveries", state=state)

    assert (added("dead"), added("held"), added("pending")) == (3, 1, 1)
    assert "succeeded" not in {sample.labels.get("state") for sample in after.samples}
    assert after.value("qiiub_event_delivery_oldest_pending_age_seconds") >= 600


def test_the_outbox_lag_is_the_age_of_the_oldest_event_not_yet_relayed(personas, scrape):
    event = OutboxEvent.objects.create(event_type="sale.completed", merchant=personas.colmado, payload={})
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert 300 <= scrape().value("qiiub_outbox_lag_seconds") < 3600

    OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=timezone.now())
    assert scrape().value("qiiub_outbox_lag_seconds") < 300


def test_the_poll_lag_is_how_late_the_most_overdue_active_poll_is(personas, scrape):
    polled = IntegrationDefinition.objects.filter(sync_patterns__contains=[SyncPattern.POLLING]).first()
    integration = MerchantIntegration.objects.create(merchant=personas.colmado, definition=polled, status=Status.ACTIVE,
                                                     next_poll_at=timezone.now() - timedelta(minutes=7))
    assert scrape().value("qiiub_poll_lag_seconds", schedule="poll") >= 420

    # a paused integration's missed polls are nobody's lag
    MerchantIntegration.objects.filter(pk=integration.pk).update(status=Status.PAUSED)
    assert scrape().value("qiiub_poll_lag_seconds", schedule="poll") < 420


def test_paused_integrations_open_problems_and_bulk_jobs_are_counted(personas, scrape):
    before = scrape()
    partner_fleet(personas.partner, stores=14, days=0, prefix="metricsfleet")  # stores 0 and 7 auto-paused
    BulkJob.objects.create(partner=personas.partner, definition=IntegrationDefinition.objects.first(),
                           action=BulkAction.PAUSE, status=BulkJobStatus.RUNNING, first_wave_size=1,
                           halt_failure_rate="0.10", total=14)
    after = scrape()

    def added(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert added("qiiub_integrations_paused", reason="auto") == 2
    assert added("qiiub_integrations", status="paused") == 2
    assert added("qiiub_integrations", status="active") == 14 * 3 - 2
    assert added("qiiub_open_problems", kind="vendor_down") == 2
    assert added("qiiub_bulk_jobs", status="running") == 1
    assert after.value("qiiub_metrics_source_up", source="database") == 1


def test_sync_runs_are_counted_by_outcome_and_error_code_and_the_third_failure_as_an_auto_pause(
    personas, simulator, acumatica_fake, scrape, django_capture_on_commit_callbacks
):
    # given an active Acumatica integration, whose vendor answers once and then starts answering 503
    integration = active_acumatica(personas.colmado, by=personas.retail_admin, token="tok-metrics")
    before = scrape()

    # when it syncs once well, then fails three times (the third pauses it)
    with django_capture_on_commit_callbacks(execute=True):
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
        acumatica_fake.control(fail={"status": 503, "count": 99})
        for _ in range(3):
            merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
    acumatica_fake.control(fail=None)
    after = scrape()

    # then
    def added(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert added("qiiub_sync_runs_total", connector="erp.acumatica", outcome="success", error_code="none") == 1
    assert added("qiiub_sync_runs_total", connector="erp.acumatica", outcome="failed",
                 error_code="vendor_unavailable") == 3
    assert added("qiiub_integration_auto_pauses_total", connector="erp.acumatica") == 1
    assert after.families["qiiub_sync_runs"].type == "counter"


def test_a_request_shows_in_the_latency_histogram_under_its_view_name(personas, client, scrape):
    client.force_login(personas.merchant_admin)
    labels = {"view": "portal:dashboard", "method": "GET", "status_class": "2xx"}
    before = scrape().value("qiiub_http_request_duration_seconds_count", **labels)

    assert client.get(reverse("portal:dashboard", args=[personas.san_juan.slug])).status_code == 200
    client.get(f"/no/such/page/{personas.san_juan.slug}/")

    after = scrape()
    assert after.value("qiiub_http_request_duration_seconds_count", **labels) == before + 1
    assert after.value("qiiub_http_request_duration_seconds_bucket", le="+Inf", **labels) == before + 1
    assert after.value("qiiub_http_request_duration_seconds_count", view="unmatched", method="GET",
                       status_class="4xx") >= 1


def test_the_celery_queues_lengths_are_read_from_the_broker(settings, scrape):
    settings.CELERY_POLL_QUEUE = f"pytest-metrics-{uuid.uuid4().hex[:8]}"
    queue_used(settings.CELERY_POLL_QUEUE)
    for _ in range(3):
        app.send_task("qiiub.heartbeat", queue=settings.CELERY_POLL_QUEUE)
    try:
        assert scrape().value("qiiub_celery_queue_length", queue=settings.CELERY_POLL_QUEUE) == 3
    finally:
        with app.connection_for_write() as broker:
            app.amqp.queues[settings.CELERY_POLL_QUEUE](broker.default_channel).purge()


def test_a_broker_that_does_not_answer_is_reported_down_and_the_rest_still_read(scrape, monkeypatch):
    nowhere = "redis://127.0.0.1:9/0"  # the discard port: nothing listens
    previous = app.conf.broker_url
    # Celery reads CELERY_BROKER_URL from the environment before its configuration (make test-rabbitmq sets it)
    monkeypatch.setenv("CELERY_BROKER_URL", nowhere)
    app.conf.broker_url = nowhere
    try:
        result = scrape()
    finally:
        app.conf.broker_url = previous
    assert result.value("qiiub_metrics_source_up", source="broker") == 0
    assert result.value("qiiub_metrics_source_up", source="database") == 1
    assert "qiiub_event_deliveries" in result.families
    assert "qiiub_celery_queue_length" not in result.families


def test_a_scrape_costs_the_same_queries_for_one_store_or_many(personas, client):
    def scrape_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("metrics")).status_code == 200
        return len(queries)

    # given the personas' few stores
    few = scrape_queries()

    # when 60 stores more, with 180 integrations, paused ones, problems and deliveries, are added
    partner_fleet(personas.partner, stores=60, days=1, prefix="metricscost")
    for merchant in personas.pharmacies + personas.retail:
        _deliveries(merchant, DeliveryStatus.PENDING, DeliveryStatus.DEAD, DeliveryStatus.HELD)

    # then a scrape runs the same handful of queries
    assert scrape_queries() == few <= 10

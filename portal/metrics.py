"""/metrics: the hub in Prometheus' text format, for an operator's Prometheus and Grafana.

Besides each process's request latency (`qiiub.metrics.requests`), a scrape reads the hub's state
from the database with a fixed handful of aggregate queries on the public schema, each served by an
index or bounded by a backlog, never a loop over merchants: the same work at 10 merchants as at
10,000. Labels are codes from bounded sets (states, kinds, connectors, queues), never a merchant.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from django.db.models import Count, Min
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from events.models import DeliveryStatus, EventDelivery, OutboxEvent
from integrations.models import MerchantIntegration, PausedReason, Problem, ProblemKind, Status
from integrations.services.polling import POLLS, SCHEDULED_BATCHES
from partners.models import BulkJob, BulkJobStatus
from qiiub.broker import hub_queues, queue_depths
from qiiub.metrics.access import metrics_access_allowed
from qiiub.metrics.counters import counters_read

logger = logging.getLogger(__name__)

UNSETTLED_STATES = (DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.DEAD)
SCHEDULES = {"poll": POLLS, "batch": SCHEDULED_BATCHES}


def _age_seconds(oldest, now) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def _gauge(name: str, documentation: str, values: dict[str, float], label: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value_label, value in values.items():
        family.add_metric([value_label], value)
    return family


def _counts(queryset, field: str, every: list[str]) -> dict[str, float]:
    """Rows per value of `field`, every known value present (0 when none): series never vanish."""
    counted = {row[field]: row["rows"] for row in queryset.values(field).annotate(rows=Count("*")).order_by()}
    return {value: counted.get(value, 0) for value in every}


def _event_bus() -> Iterator[Metric]:
    now = timezone.now()
    # The partial indexes outbox_unrelayed and delivery_pending_due / delivery_merchant_unsettled
    # hold only the backlog: nearly every row has been relayed and delivered.
    unrelayed = OutboxEvent.objects.filter(relayed_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
    yield GaugeMetricFamily("qiiub_outbox_lag_seconds", "Age of the oldest event not yet relayed to its deliveries.",
                            value=_age_seconds(unrelayed, now))
    unsettled = EventDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED)
    yield _gauge("qiiub_event_deliveries", "Deliveries not yet succeeded, by state.",
                 _counts(unsettled, "status", list(UNSETTLED_STATES)), "state")
    pending = EventDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(oldest=Min("created_at"))["oldest"]
    yield GaugeMetricFamily("qiiub_event_delivery_oldest_pending_age_seconds",
                            "Age of the oldest delivery still pending (waiting for its first or next attempt).",
                            value=_age_seconds(pending, now))


def _integrations() -> Iterator[Metric]:
    now = timezone.now()
    lag = GaugeMetricFamily("qiiub_poll_lag_seconds", "How late the most overdue active poll or scheduled batch is.",
                            labels=["schedule"])
    for schedule, due in SCHEDULES.items():
        overdue = (MerchantIntegration.objects.filter(status=Status.ACTIVE, **{f"{due.column}__lte": now},
                                                      definition__sync_patterns__contains=[due.pattern])
                   .aggregate(oldest=Min(due.column))["oldest"])
        lag.add_metric([schedule], _age_seconds(overdue, now))
    yield lag
    by_state = {(row["status"], row["paused_reason"]): row["rows"] for row in
                MerchantIntegration.objects.values("status", "paused_reason").annotate(rows=Count("*")).order_by()}
    statuses = {status: sum(rows for (of, _), rows in by_state.items() if of == status) for status in Status.values}
    yield _gauge("qiiub_integrations", "Merchant integrations by status.", statuses, "status")
    paused = {reason: by_state.get((Status.PAUSED, reason), 0) for reason in PausedReason.values}
    yield _gauge("qiiub_integrations_paused", "Paused integrations by why they were paused.", paused, "reason")
    open_problems = Problem.objects.filter(resolved_at__isnull=True)
    yield _gauge("qiiub_open_problems", "Open problems (the Issues inbox) by kind.",
                 _counts(open_problems, "kind", ProblemKind.values), "kind")
    yield _gauge("qiiub_bulk_jobs", "Partners' bulk jobs by status.",
                 _counts(BulkJob.objects.all(), "status", BulkJobStatus.values), "status")


def _redis_held() -> Iterator[Metric]:
    for counter, samples in counters_read():
        family = CounterMetricFamily(counter.name, counter.documentation, labels=counter.labels)
        for labels, count in samples:
            family.add_metric([labels[name] for name in counter.labels], count)
        yield family


def _queues() -> Iterator[Metric]:
    yield _gauge("qiiub_celery_queue_length", "Messages waiting in each Celery queue of the hub.",
                 queue_depths(hub_queues()), "queue")


SOURCES = {"database": (_event_bus, _integrations), "redis": (_redis_held,), "broker": (_queues,)}


class HubCollector:
    """The hub's state, read at scrape time. A source that fails is reported as down, not as a
    failed scrape, so the rest still reaches Prometheus."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("qiiub_metrics_source_up", "Whether the scrape could read each source.",
                               labels=["source"])
        for source, readers in SOURCES.items():
            try:
                families = [family for reader in readers for family in reader()]
            except Exception:  # noqa: BLE001  (any failure of a source is "down", whatever it raised)
                logger.warning("metrics.source_down", extra={"source": source}, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up
        yield GaugeMetricFamily("qiiub_metrics_scrape_duration_seconds", "Time this scrape spent reading the hub.",
                                value=time.perf_counter() - started)


HUB_REGISTRY = CollectorRegistry()
HUB_REGISTRY.register(HubCollector())


def _request_registry() -> CollectorRegistry:
    """The request latency: this process's, or under gunicorn (PROMETHEUS_MULTIPROC_DIR) every worker's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@never_cache
def metrics(request):
    if not metrics_access_allowed(request):  # before anything else: nobody else learns it is here
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(generate_latest(_request_registry()) + generate_latest(HUB_REGISTRY),
                        content_type=CONTENT_TYPE_LATEST)

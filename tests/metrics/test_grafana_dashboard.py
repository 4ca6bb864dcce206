"""The Grafana dashboard in docs/ imports (Grafana's dashboard model, Prometheus chosen on import)
and charts only metrics that /metrics exports."""

import json
import re

import pytest
from django.conf import settings

DASHBOARD = settings.BASE_DIR / "docs" / "grafana" / "qiiub-hub.json"
SERIES_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _charts(dashboard: dict) -> list[dict]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_the_dashboard_is_a_grafana_dashboard_with_prometheus_as_a_variable():
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _charts(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expression = target["expr"]
            assert expression.count("(") == expression.count(")") and expression.count("{") == expression.count("}")


@pytest.mark.django_db
def test_every_chart_of_the_dashboard_reads_a_metric_that_the_hub_exports(client, scrape):
    client.get("/healthz")  # a request, so the latency histogram has series
    exported = scrape()
    samples = {sample.name for sample in exported.samples}
    charted = {name for panel in _charts(_dashboard()) for target in panel["targets"]
               for name in re.findall(r"\bqiiub_[a-z_]+", target["expr"])}

    def exported_name(name: str) -> bool:
        family = next((name.removesuffix(suffix) for suffix in SERIES_SUFFIXES if name.endswith(suffix)), name)
        return name in samples or family in exported.families

    assert charted and not {name for name in charted if not exported_name(name)}
    wanted = {"qiiub_http_request_duration_seconds_bucket", "qiiub_outbox_lag_seconds", "qiiub_event_deliveries",
              "qiiub_event_delivery_oldest_pending_age_seconds", "qiiub_poll_lag_seconds", "qiiub_sync_runs_total",
              "qiiub_celery_queue_length", "qiiub_integration_auto_pauses_total", "qiiub_bulk_jobs",
              "qiiub_open_problems"}
    assert wanted <= charted

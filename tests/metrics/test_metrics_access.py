"""Who may read /metrics: the metrics token's bearer, or a caller from an allowed network (the
address as sign-in throttling reads it, never a proxy's); anyone else finds nothing there."""

import ipaddress

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.security, pytest.mark.django_db]

ELSEWHERE = "198.51.100.7"
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def test_a_caller_from_another_network_without_the_token_finds_nothing(client):
    answer = client.get(reverse("metrics"), REMOTE_ADDR=ELSEWHERE)
    assert answer.status_code == 404
    assert b"qiiub_" not in answer.content


def test_a_caller_from_another_network_cannot_even_learn_which_methods_it_takes(client):
    assert client.post(reverse("metrics"), REMOTE_ADDR=ELSEWHERE).status_code == 404


def test_the_local_network_reads_the_metrics_in_prometheus_text_format(client):
    answer = client.get(reverse("metrics"))  # the test client calls from 127.0.0.1
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE qiiub_event_deliveries gauge" in answer.content


def test_an_ipv6_loopback_caller_is_local_too(client):
    assert client.get(reverse("metrics"), REMOTE_ADDR="::1").status_code == 200


def test_the_token_opens_the_metrics_from_any_network(client, metrics_token):
    answer = client.get(reverse("metrics"), REMOTE_ADDR=ELSEWHERE, HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert answer.status_code == 200


def test_a_wrong_token_opens_nothing(client, metrics_token):
    for authorization in (f"Bearer {metrics_token}x", f"Bearer {metrics_token[:-1]}", metrics_token, "Bearer "):
        assert client.get(reverse("metrics"), REMOTE_ADDR=ELSEWHERE,
                          HTTP_AUTHORIZATION=authorization).status_code == 404, authorization


def test_without_a_configured_token_an_empty_bearer_opens_nothing(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(reverse("metrics"), REMOTE_ADDR=ELSEWHERE, HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_a_request_a_local_proxy_relayed_is_not_local(client):
    # given a reverse proxy on the same host, relaying an outside caller: REMOTE_ADDR is the proxy's
    answer = client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=ELSEWHERE)

    # then the caller is not taken for a local one
    assert answer.status_code == 404


def test_behind_a_trusted_proxy_the_address_it_saw_decides(client, settings):
    settings.CLIENT_IP_META = "HTTP_X_FORWARDED_FOR"
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.20.0.0/16")]
    url = reverse("metrics")

    # the right-most address is the one the proxy saw; what the caller put before it counts for nothing
    assert client.get(url, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.20.3.4").status_code == 200
    assert client.get(url, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.20.3.4, 203.0.113.9").status_code == 404


def test_the_allowed_networks_are_configurable(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("198.51.100.0/24")]
    assert client.get(reverse("metrics"), REMOTE_ADDR=ELSEWHERE).status_code == 200
    assert client.get(reverse("metrics")).status_code == 404  # loopback is no longer listed


def test_the_metrics_need_no_session_and_set_no_cookie(client):
    answer = client.get(reverse("metrics"))
    assert answer.status_code == 200 and not answer.cookies
    assert "no-cache" in answer["Cache-Control"]


def test_no_merchant_slug_schema_or_id_appears_anywhere_in_the_metrics(personas, client, scrape):
    # given every merchant has rows behind the metrics, and its pages were visited (slugs in paths)
    from events.models import OutboxEvent

    client.force_login(personas.sysadmin)
    merchants = personas.pharmacies + personas.retail
    for merchant in merchants:
        OutboxEvent.objects.create(event_type="sale.completed", merchant=merchant, payload={})
        client.get(reverse("portal:dashboard", args=[merchant.slug]))
        client.get(reverse("portal:issues", args=[merchant.slug]))

    # when
    result = scrape()

    # then neither the text nor any label names one of them
    for merchant in merchants:
        assert merchant.slug not in result.text and merchant.schema_name not in result.text
        assert merchant.name not in result.text
    assert not {str(merchant.pk) for merchant in merchants} & result.label_values()
    assert {"portal:dashboard", "portal:issues"} <= result.label_values()

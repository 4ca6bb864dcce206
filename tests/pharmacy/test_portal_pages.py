"""The pharmacy's portal pages, per role: a location's relay health, enrollment and revocation, its
waiting and returned fills and refused messages, the pickup and signature log (page, CSV, print,
signature), the PHI access log, a partner's relay health, and the idle logoff. Data is made by the
real services: relays enroll and heart-beat, the relay pushes fills, registers upload pickups."""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import time as time_module
import uuid
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.models import EnrollmentCode, EnrollmentPurpose
from devices.terminals import enrollment_code_create, terminal_enroll
from devices.uploads import upload_ingest
from integrations.models import IntegrationDefinition
from integrations.services.enabling import merchant_integration_enable
from pharmacy.audit import HUB, Actor, phi_accessed
from pharmacy.models import PharmacyStation, Relay
from pharmacy.outbox import outbox_acknowledge, outbox_fetch
from pharmacy.prescriptions import prescriptions_push, push_checked
from pharmacy.relays import relay_enroll, relay_heartbeat
from pharmacy.store.models import PhiAccess
from qiiub.errors import ValidationFailed
from qiiub_relay.sealing import generate_private_key, public_key_b64

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PATIENT, OTHER_PATIENT, PICKER = "Zoraida Quiñones Vélez", "Wilfredo Santiago Ortiz", "Luis Quiñones"
IDLE_LOGOFF = "merchants.middleware.IdleLogoffMiddleware"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _relay(location, name: str = "Back office PC") -> Relay:
    _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
    relay, _token = relay_enroll(code=code, name=name, public_key=public_key_b64(generate_private_key()),
                                 app_version="qiiub-relay 1.0.0")
    return relay


def _heartbeat(relay: Relay, **report) -> None:
    relay_heartbeat(relay=relay, report={"queue_depth": 0, "pharmacy_reachable": True, **report},
                    source="192.0.2.10")


def _ready(rx_number: str, fill_number: int = 0, patient: str = PATIENT) -> dict:
    return {"message_id": str(uuid.uuid4()), "rx_number": rx_number, "fill_number": fill_number, "status": "ready",
            "amount_due": "12.50", "taxable": False, "patient_name": patient,
            "flags": [{"type": "hipaa", "required": True, "message": "Acknowledge the privacy notice"}],
            "ready_at": timezone.now().isoformat()}


def _push(relay: Relay, *changes: dict) -> None:
    checked, complete = push_checked({"changes": list(changes)})
    prescriptions_push(location=relay.location, changes=checked, complete=complete, actor=Actor.relay(relay))


def _register(location, name: str = "Register 1"):
    _, code = enrollment_code_create(location=location)
    return terminal_enroll(code=code, name=name)[0]


def _pickup(rx_number: str, fill_number: int = 0, *, at: datetime | None = None, signed: bool = True,
            picker: str = PICKER) -> dict:
    return {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": rx_number, "fill_number": fill_number,
            "picked_up_at": (at or timezone.now()).isoformat(),
            "picked_up_by": {"name": picker, "relation": "spouse", "id_type": "drivers_license", "id_last4": "4821"},
            "flag_results": [{"type": "hipaa", "accepted": True}],
            "signature": {"format": "image/png", "data": base64.b64encode(PNG).decode()} if signed else None,
            "amount_paid": "12.50"}


def _upload(register, *records: dict) -> None:
    results = upload_ingest(terminal=register, body={"records": [
        {key: value for key, value in record.items() if value is not None} for record in records]})
    assert [result.status for result in results] == ["stored"] * len(records), [r.as_dict() for r in results]


def _accesses(merchant, **filters) -> list[PhiAccess]:
    with schema_context(merchant.schema_name):
        return list(PhiAccess.objects.filter(**filters).order_by("at", "id"))


@pytest.fixture
def store(personas):
    """Farmacia San Juan's Santurce store: its relay holds the lease, two fills wait, one register."""
    merchant = personas.san_juan
    location = merchant.locations.get(code="SJ01")
    relay = _relay(location)
    _heartbeat(relay, queue_depth=3)
    _push(relay, _ready("RX1001"), _ready("RX1002", 1, OTHER_PATIENT))
    return SimpleNamespace(merchant=merchant, location=location, relay=relay, register=_register(location),
                           url=reverse("portal:pharmacy-location", args=[merchant.slug, location.pk]))


def _pickups_url(store, **query) -> str:
    url = reverse("portal:pharmacy-pickups", args=[store.merchant.slug, store.location.pk])
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def test_a_merchant_admin_sees_the_relay_and_the_waiting_fills_and_the_read_is_logged(store, personas, caplog):
    standby = _relay(store.location, "Counter PC")
    caplog.set_level(logging.DEBUG)

    page = _client(personas.merchant_admin).get(store.url)

    assert page.status_code == 200
    text = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert page.context["health"].state == "running" and page.context["health"].active == store.relay
    assert [relay.pk for relay in page.context["health"].standby] == [standby.pk]
    for shown in ("Running", "Back office PC", "Counter PC", "qiiub-relay 1.0.0", PATIENT, OTHER_PATIENT, "RX1001-0",
                  "RX1002-1", "$12.50", "Privacy notice", "2 prescriptions waiting for pickup"):
        assert shown in text, shown
    (access,) = _accesses(store.merchant, resource="ready_list", actor_kind="user")
    assert (access.action, access.actor_label, access.actor_id, access.location_code, access.source) == (
        "read", personas.merchant_admin.get_username(), personas.merchant_admin.pk, "SJ01", "127.0.0.1")
    assert access.count == 2 and len(access.record_ids) == 2
    assert PATIENT not in caplog.text and "RX1001" not in caplog.text


def test_the_pharmacy_page_lists_every_location_with_its_relay_and_counts(store, personas):
    page = _client(personas.sysadmin).get(reverse("portal:pharmacy", args=[store.merchant.slug]))

    assert page.status_code == 200
    summaries = {summary.health.location.code: summary for summary in page.context["summaries"]}
    assert (summaries["SJ01"].health.state, summaries["SJ01"].ready) == ("running", 2)
    assert (summaries["SJ02"].health.state, summaries["SJ02"].ready) == ("none", 0)
    assert "No relay enrolled yet" in page.content.decode()
    assert PATIENT not in page.content.decode()


def test_the_status_says_what_is_wrong_and_what_to_do(personas, settings):
    merchant = personas.san_juan
    location = merchant.locations.get(code="SJ02")
    client = _client(personas.merchant_admin)
    url = reverse("portal:pharmacy-location", args=[merchant.slug, location.pk])

    assert "No relay enrolled yet" in client.get(url).content.decode()
    relay = _relay(location)
    assert "Enrolled; not reporting yet" in client.get(url).content.decode()
    _heartbeat(relay, pharmacy_reachable=False, queue_depth=7,
               last_error={"code": "connection_refused", "at": timezone.now()})
    text = client.get(url).content.decode()
    assert "Cannot reach the pharmacy system" in text and "connection_refused" in text
    assert "host, port and credentials" in text
    _heartbeat(relay, pharmacy_reachable=None)
    text = client.get(url).content.decode()
    assert "no pharmacy system set up" in text and "Open the catalog" in text  # none at this location
    merchant_integration_enable(merchant=merchant, definition=IntegrationDefinition.objects.get(
        code="pharmacy.pioneerrx"), location=location, by=personas.merchant_admin)
    text = client.get(url).content.decode()
    assert "pharmacy system not tried yet" in text and "within a minute" in text and "Open the catalog" not in text
    settings.PHARMACY_RELAY_TAKEOVER_AFTER_S = 0  # its last heartbeat is now older than the takeover time
    text = client.get(url).content.decode()
    assert "Not reporting for 0 min" in text and "the relay runs" in text


def test_an_enrollment_code_is_shown_once_with_the_command_to_run(store, personas):
    client = _client(personas.merchant_admin)

    page = client.post(store.url, {"name": "Back office PC 2"})

    assert page.status_code == 201
    code = page.context["new_code"]["code"]
    assert (f'python -m qiiub_relay --hub http://testserver --state-dir /var/lib/qiiub-relay --enroll {code} '
            f'--name "Back office PC 2"') in html.unescape(page.content.decode())
    assert code not in client.get(store.url).content.decode()
    relay, _token = relay_enroll(code=code, name="Back office PC 2", public_key=public_key_b64(generate_private_key()))
    assert relay.location == store.location
    with pytest.raises(ValidationFailed):
        relay_enroll(code=code, name="Again", public_key=public_key_b64(generate_private_key()))


@pytest.mark.security
def test_a_relay_name_that_would_break_the_command_or_holds_a_card_is_refused_and_never_echoed(store, personas):
    client = _client(personas.merchant_admin)
    codes = EnrollmentCode.objects.count()

    for name in ('PC"; rm -rf / #', "PC $(reboot)", ""):
        refused = client.post(store.url, {"name": name})
        assert refused.status_code == 422 and refused.context["new_code"] is None, name
    card = client.post(store.url, {"name": "PC 4111 1111 1111 1111"})

    assert card.status_code == 422 and "1111 1111" not in card.content.decode()
    assert EnrollmentCode.objects.count() == codes


@pytest.mark.security
def test_the_enroll_and_revoke_forms_require_csrf(store, personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.merchant_admin)
    revoke_url = reverse("portal:pharmacy-relay-revoke", args=[store.merchant.slug, store.location.pk, store.relay.pk])

    assert client.post(store.url, {"name": "Back office PC"}).status_code == 403
    assert client.post(revoke_url).status_code == 403
    assert Relay.objects.get(pk=store.relay.pk).revoked_at is None

def test_revoking_the_active_relay_frees_the_lease_for_the_standby(store, personas):
    standby = _relay(store.location, "Counter PC")
    client = _client(personas.merchant_admin)
    revoke_url = reverse("portal:pharmacy-relay-revoke", args=[store.merchant.slug, store.location.pk, store.relay.pk])

    assert 'hx-confirm="Revoke Back office PC?' in client.get(store.url).content.decode()
    assert client.get(revoke_url).url == store.url  # a reload goes back to the page; only a POST revokes
    assert Relay.objects.get(pk=store.relay.pk).revoked_at is None
    answer = client.post(revoke_url)

    assert answer.status_code == 302 and answer.url == store.url
    assert Relay.objects.get(pk=store.relay.pk).revoked_at is not None
    assert PharmacyStation.objects.get(location=store.location).active_relay is None
    _heartbeat(standby)
    page = client.get(store.url)
    assert page.context["health"].active == standby and page.context["health"].standby == []
    assert client.post(revoke_url).status_code == 404  # revoked already


def test_the_pickup_log_of_a_day_keeps_the_merchants_day_and_lists_each_pickup(store, personas):
    zone = ZoneInfo(store.merchant.time_zone)
    day = timezone.localdate(timezone=zone) - timedelta(days=2)
    late = datetime.combine(day, time(23, 30), tzinfo=zone)  # already the next day in UTC
    _upload(store.register, _pickup("RX1001", at=late), _pickup("RX1002", 1, at=late - timedelta(hours=23),
                                                                   signed=False),
            _pickup("RX1003", at=late + timedelta(hours=1)))
    client = _client(personas.merchant_admin)

    page = client.get(_pickups_url(store, day=day.isoformat()))

    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    rows = page.context["rows"]
    assert [row.rx_number for row in rows] == ["RX1002", "RX1001"]
    text = page.content.decode()
    for shown in (PICKER, "Spouse", "RX1001-0", "RX1002-1", "Privacy notice: accepted", "$12.50", "Register 1",
                  "11:30 PM"):
        assert shown in text, shown
    signed = rows[1]
    assert reverse("portal:pharmacy-signature", args=[store.merchant.slug, store.location.pk, signed.pk]) in text
    assert text.count("<img ") == 1
    (access,) = _accesses(store.merchant, resource="pickup_log")
    assert (access.action, access.actor_label, sorted(access.record_ids)) == (
        "read", personas.merchant_admin.get_username(), sorted(row.pk for row in rows))
    next_day = client.get(_pickups_url(store, day=(day + timedelta(days=1)).isoformat())).context["rows"]
    assert [row.rx_number for row in next_day] == ["RX1003"]


def test_the_pickup_log_shows_today_in_the_merchants_time_zone_by_default(store, personas):
    _upload(store.register, _pickup("RX1001"))

    page = _client(personas.merchant_admin).get(_pickups_url(store))

    assert page.context["day"] == timezone.localdate(timezone=ZoneInfo(store.merchant.time_zone))
    assert [row.rx_number for row in page.context["rows"]] == ["RX1001"]


def test_a_bad_day_is_a_form_error_and_reads_nothing(store, personas):
    client = _client(personas.merchant_admin)

    for query in ({"day": "2026-13-45"}, {"day": "yesterday", "format": "csv"}, {"day": "<b>x</b>", "print": "1"}):
        page = client.get(_pickups_url(store, **query))
        assert page.status_code == 422, query
        assert page["Content-Type"].startswith("text/html") and "is not a day" in page.content.decode()
        assert "<b>x</b>" not in page.content.decode()
    assert _accesses(store.merchant, resource="pickup_log") == []


@pytest.mark.security
def test_the_csv_export_is_an_audited_export_without_signature_data(store, personas):
    _upload(store.register, _pickup("RX1001"), _pickup("RX1002", 1, signed=False, picker="=HYPERLINK(\"x\")"))
    today = timezone.localdate(timezone=ZoneInfo(store.merchant.time_zone))

    answer = _client(personas.merchant_admin).get(_pickups_url(store, format="csv"))

    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert answer["Content-Disposition"] == f'attachment; filename="pickups-SJ01-{today.isoformat()}.csv"'
    assert "no-store" in answer["Cache-Control"]
    header, *rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert header == ["Time", "Rx number", "Fill", "Picked up by", "Relation", "Flags", "Signature", "Amount paid",
                      "Register"]
    assert [(row[1], row[2], row[3], row[4], row[6], row[7], row[8]) for row in rows] == [
        ("RX1001", "0", PICKER, "Spouse", "yes", "12.50", "Register 1"),
        ("RX1002", "1", "'=HYPERLINK(\"x\")", "Spouse", "no", "12.50", "Register 1")]
    assert base64.b64encode(PNG).decode()[:24] not in answer.content.decode()
    (access,) = _accesses(store.merchant, resource="pickup_log")
    assert (access.action, access.count) == ("export", 2)


def test_the_printable_log_embeds_the_signatures_and_logs_their_read(store, personas):
    _upload(store.register, _pickup("RX1001"), _pickup("RX1002", 1, signed=False))

    page = _client(personas.merchant_admin).get(_pickups_url(store, print="1"))

    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert [template.name for template in page.templates][0] == "pharmacy/pickups_print.html"
    text = page.content.decode()
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in text
    assert PICKER in text and "2 pickups." in text and "topbar" not in text
    assert [(access.resource, access.action) for access in _accesses(store.merchant, actor_kind="user")] == [
        ("pickup_log", "read"), ("signature", "read")]


def test_a_signature_image_is_served_uncached_and_its_read_is_logged(store, personas):
    _upload(store.register, _pickup("RX1001"), _pickup("RX1002", 1, signed=False))
    client = _client(personas.merchant_admin)
    signed, unsigned = client.get(_pickups_url(store)).context["rows"]
    url = reverse("portal:pharmacy-signature", args=[store.merchant.slug, store.location.pk, signed.pk])

    image = client.get(url)

    assert image.status_code == 200 and image.content == PNG
    assert image["Content-Type"] == "image/png" and "no-store" in image["Cache-Control"]
    (access,) = _accesses(store.merchant, resource="signature")
    assert (access.action, access.record_ids, access.location_code) == ("read", [signed.pk], "SJ01")
    other_location = store.merchant.locations.get(code="SJ02")
    assert client.get(reverse("portal:pharmacy-signature", args=[
        store.merchant.slug, other_location.pk, signed.pk])).status_code == 404
    assert client.get(reverse("portal:pharmacy-signature", args=[
        store.merchant.slug, store.location.pk, unsigned.pk])).status_code == 404
    assert len(_accesses(store.merchant, resource="signature")) == 1


def _return_sale(rx_number: str, fill_number: int = 0) -> dict:
    return {"type": "sale", "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(),
            "subtotal": "-12.50", "tax_state": "0.00", "tax_municipal": "0.00", "total": "-12.50",
            "lines": [{"sku": "RX", "description": "Prescription", "quantity": "-1", "unit_price": "12.50",
                       "line_total": "-12.50", "tax_category": "exempt",
                       "rx": {"rx_number": rx_number, "fill_number": fill_number}}],
            "tenders": [{"kind": "cash", "amount": "-12.50"}]}


def test_returned_rx30_fills_and_refused_messages_are_shown_for_staff_to_act_on(store, personas):
    merchant_integration_enable(merchant=store.merchant, location=store.location, by=personas.merchant_admin,
                                definition=IntegrationDefinition.objects.get(code="pharmacy.rx30"))
    _upload(store.register, _pickup("RX1001"))
    _upload(store.register, _return_sale("RX1001"))
    pickup_message, return_message = outbox_fetch(location=store.location, actor=Actor.relay(store.relay))
    outbox_acknowledge(location=store.location, acks=[{"id": pickup_message["id"], "outcome": "refused",
                                                       "error_code": "unknown_rx"}])

    page = _client(personas.merchant_admin).get(store.url)

    text = page.content.decode()
    assert "Reset the pickup status of these fills in Rx30 by hand: Rx30 keeps a returned fill picked up." in text
    (to_reset,) = page.context["pharmacy"].to_reset
    assert (to_reset.rx_number, to_reset.patient_name) == ("RX1001", PATIENT)
    (refused,) = page.context["pharmacy"].refused
    assert (refused.number, refused.kind, refused.error_code) == (pickup_message["number"], "pickup", "unknown_rx")
    assert "unknown_rx" in text and "1 message waiting for the relay." in text
    assert PICKER not in text  # message bodies are not shown
    (access,) = _accesses(store.merchant, resource="prescription", actor_kind="user")
    assert access.record_ids == [to_reset.pk]

    # staff reset it in Rx30 and say so: it leaves the list, written to the access log; a second click finds nothing
    client = _client(personas.merchant_admin)
    done = reverse("portal:pharmacy-reset-done", args=[store.merchant.slug, store.location.pk, to_reset.pk])
    answer = client.post(done, follow=True)
    assert "Marked as reset in Rx30" in answer.content.decode() and answer.context["pharmacy"].to_reset == []
    assert client.post(done).status_code == 404
    assert _client(personas.partner_admin).post(done).status_code == 404
    actions = sorted(row.action for row in _accesses(store.merchant, resource="prescription", actor_kind="user"))
    assert actions == ["read", "write"]


def test_the_access_log_lists_the_merchants_accesses_newest_first_by_day_and_location(store, personas):
    client = _client(personas.merchant_admin)
    client.get(store.url)
    other = store.merchant.locations.get(code="SJ02")
    client.get(reverse("portal:pharmacy-location", args=[store.merchant.slug, other.pk]))
    url = reverse("portal:pharmacy-access-log", args=[store.merchant.slug])
    written = len(_accesses(store.merchant))

    page = client.get(url)

    assert page.status_code == 200
    rows = page.context["log"].rows
    assert [(row.location_code, row.resource) for row in rows[:2]] == [("SJ02", "ready_list"), ("SJ01", "ready_list")]
    assert rows[0].at >= rows[1].at >= rows[-1].at
    text = page.content.decode()
    assert personas.merchant_admin.get_username() in text and "Back office PC" in text  # the relay's push
    assert len(_accesses(store.merchant)) == written  # viewing the log is not an access to patient data
    assert {row.location_code for row in client.get(url, {"location": "SJ02"}).context["log"].rows} == {"SJ02"}
    yesterday = timezone.localdate(timezone=ZoneInfo(store.merchant.time_zone)) - timedelta(days=1)
    assert client.get(url, {"day": yesterday.isoformat()}).context["log"].rows == []
    bad = client.get(url, {"day": "31/12/2026"})
    assert bad.status_code == 422 and "is not a day" in bad.content.decode()


def test_the_access_log_pages_by_fifty(store, personas):
    for _ in range(60):
        phi_accessed(actor=HUB, action="purge", resource="pickups", count=1, merchant=store.merchant)
    client = _client(personas.merchant_admin)
    url = reverse("portal:pharmacy-access-log", args=[store.merchant.slug])
    total = len(_accesses(store.merchant))

    first, second = client.get(url).context["log"], client.get(url, {"page": "2"}).context["log"]

    assert (len(first.rows), first.more) == (50, True)
    assert (len(second.rows), second.more) == (total - 50, False)
    assert not {row.pk for row in first.rows} & {row.pk for row in second.rows}


def _phi_urls(store, pickup_id: int, relay_id: int) -> list[tuple[str, str]]:
    slug, location_id = store.merchant.slug, store.location.pk
    return [
        ("get", reverse("portal:pharmacy", args=[slug])),
        ("get", store.url),
        ("post", store.url),
        ("post", reverse("portal:pharmacy-relay-revoke", args=[slug, location_id, relay_id])),
        ("get", _pickups_url(store)),
        ("get", _pickups_url(store, format="csv")),
        ("get", _pickups_url(store, print="1")),
        ("get", reverse("portal:pharmacy-signature", args=[slug, location_id, pickup_id])),
        ("get", reverse("portal:pharmacy-access-log", args=[slug])),
    ]


@pytest.mark.security
def test_a_partner_admin_and_other_merchants_admins_get_404_on_every_page_with_patient_data(store, personas):
    _upload(store.register, _pickup("RX1001"))
    pickup_id = _client(personas.merchant_admin).get(_pickups_url(store)).context["rows"][0].pk
    accesses = len(_accesses(store.merchant))
    codes = EnrollmentCode.objects.count()

    for user in (personas.partner_admin, personas.retail_admin):
        client = _client(user)
        for method, url in _phi_urls(store, pickup_id, store.relay.pk):
            answer = getattr(client, method)(url, {"name": "Relay"} if method == "post" else None)
            assert answer.status_code == 404, (user.username, method, url)
            assert PATIENT not in answer.content.decode() and PICKER not in answer.content.decode()
    anonymous = Client().get(store.url)
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    assert len(_accesses(store.merchant)) == accesses
    assert EnrollmentCode.objects.count() == codes
    assert Relay.objects.get(pk=store.relay.pk).revoked_at is None


@pytest.mark.security
def test_a_retail_merchant_has_no_pharmacy_pages(personas):
    colmado = personas.colmado
    client = _client(personas.retail_admin)
    assert client.get(reverse("portal:pharmacy", args=[colmado.slug])).status_code == 404
    assert client.get(reverse("portal:pharmacy-access-log", args=[colmado.slug])).status_code == 404


@pytest.mark.security
def test_a_partner_admin_sees_every_stores_relay_health_worst_first_without_patient_data(store, personas):
    ponce = personas.pharmacies[1].locations.get()
    failing = _relay(ponce, "Ponce PC")
    _heartbeat(failing, pharmacy_reachable=False, queue_depth=12,
               last_error={"code": "connection_refused", "at": timezone.now()})
    mayaguez = personas.pharmacies[2].locations.get()
    merchant_integration_enable(merchant=mayaguez.merchant, location=mayaguez, by=personas.sysadmin,
                                definition=IntegrationDefinition.objects.get(code="pharmacy.rx30"))
    _upload(store.register, _pickup("RX1001"))
    url = reverse("portal:pharmacy-partner", args=[personas.partner.slug])

    page = _client(personas.partner_admin).get(url)

    assert page.status_code == 200
    healths = page.context["healths"]
    assert [(health.location.code, health.state) for health in healths] == [
        ("PO01", "unreachable"), ("MA01", "none"), ("SJ01", "running")]
    text = page.content.decode()
    for shown in ("Farmacia Ponce", "Ponce PC", "connection_refused", "12", "Cannot reach the pharmacy system",
                  "Farmacia San Juan", "Back office PC", "Running", "No relay enrolled yet"):
        assert shown in text, shown
    for hidden in (PATIENT, OTHER_PATIENT, PICKER, "RX1001", "RX1002"):
        assert hidden not in text, hidden
    assert _client(personas.sysadmin).get(url).status_code == 200
    assert _client(personas.merchant_admin).get(url).status_code == 404


@pytest.fixture
def idle_logoff(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, IDLE_LOGOFF]
    settings.PHI_IDLE_LOGOFF_S = 600
    return settings


def _clock_at(monkeypatch, moment: float) -> None:
    """The middleware's clock stopped at `moment`."""
    import merchants.middleware

    monkeypatch.setattr(merchants.middleware, "time", SimpleNamespace(time=lambda: moment))


def _sees_phi_queries(context: CaptureQueriesContext) -> int:
    return sum("""."vertical" = 'pharmacy'""" in query["sql"] for query in context.captured_queries)


@pytest.mark.security
@pytest.mark.parametrize("who", ["merchant_admin", "sysadmin"])
def test_a_user_who_can_see_patient_data_is_signed_out_after_the_idle_time(idle_logoff, personas, monkeypatch, who):
    start = time_module.time()  # before the first request: its last-seen time is no earlier
    client = _client(getattr(personas, who))
    dashboard = reverse("portal:dashboard", args=[personas.san_juan.slug])
    with CaptureQueriesContext(connection) as first:
        assert client.get(dashboard).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(dashboard).status_code == 200
    assert (_sees_phi_queries(first), _sees_phi_queries(second)) == ((1, 0) if who == "merchant_admin" else (0, 0))

    _clock_at(monkeypatch, start + 599)
    assert client.get(dashboard).status_code == 200  # a request in time keeps the session
    _clock_at(monkeypatch, start + 599 + 600)
    answer = client.get(dashboard)

    assert answer.status_code == 302 and answer.url == f"/accounts/login/?next={dashboard}"
    assert "_auth_user_id" not in client.session
    login = client.get(answer.url)
    assert "You were signed out after 10 minutes without activity: patient data is protected." in (
        login.content.decode())
    assert client.get(dashboard).status_code == 302


def test_a_user_who_cannot_see_patient_data_keeps_the_longer_idle_time_of_every_user(idle_logoff, personas,
                                                                                    monkeypatch):
    idle_logoff.SESSION_IDLE_TIMEOUT_S = 1800
    start = time_module.time()
    client = _client(personas.partner_admin)
    url = reverse("portal:pharmacy-partner", args=[personas.partner.slug])
    assert client.get(url).status_code == 200

    _clock_at(monkeypatch, start + 1200)  # past patient data's 600 s, within everyone's 1800 s
    assert client.get(url).status_code == 200
    _clock_at(monkeypatch, start + 1200 + 1800)
    answer = client.get(url)

    assert answer.status_code == 302 and "_auth_user_id" not in client.session
    assert "You were signed out after 30 minutes without activity." in client.get(answer.url).content.decode()

"""Card data discovery: card numbers planted in every kind of table (tenant sales, devices, events,
webhooks, logs, encrypted configuration and secrets) are found by table, row and field, shown with
first 6 and last 4 at most, and masked in place with nothing else touched."""

import io
import json
import logging
import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import CardRedaction, CardScan, CardScanHit
from compliance.scan import card_data_scan
from compliance.tasks import scan_card_data
from devices.models import Terminal
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent, SubscriberKind
from integrations.models import IntegrationSyncLog, MerchantIntegration
from merchants.store.models import DeviceStatus, Sale, SaleLine, ShiftClose, Tender
from qiiub.vault import get_vault, new_vault_key
from tests.factories import active_acumatica
from webhooks.models import InboundWebhook, WebhookEndpoint

pytestmark = pytest.mark.security

# (the value planted, its digits, how the report shows it)
VISA = ("Café 4111 1111 1111 1111 gracias", "4111111111111111", "411111…1111")
SIX_REST = ("620578 3086271497092", "6205783086271497092", "620578…7092")
VISA_13 = ("error ref:4923749510698", "4923749510698", "492374…0698")
MASTERCARD = ("5555-5555-5555-4444", "5555555555554444", "555555…4444")
AMEX = ("Amex 3782 822463 10005", "378282246310005", "378282…0005")
DISCOVER = ("card 6011.0009.9013.9424", "6011000990139424", "601100…9424")
CONFIG = ("5105105105105100", "5105105105105100", "510510…5100")
SECRET = ("4012888888881881", "4012888888881881", "401288…1881")
# Values the guard lets through must not be reported either.
BARCODE = "4006381330060"  # a valid EAN-13 (GS1) that also passes Luhn: a barcode, not a card
SHOPIFY_ID = 4567890123452  # a 13-digit Shopify id: a record id under "id", not a Visa


@pytest.fixture
def planted(personas):
    """Card numbers written straight to the database (as data stored before the guard caught them)."""
    merchant, location = personas.colmado, personas.colmado.locations.first()
    now = timezone.now()
    rows = {}
    with schema_context(merchant.schema_name):
        sale = Sale.objects.create(client_uuid=uuid.uuid4(), location_code=location.code, completed_at=now,
                                   subtotal=Decimal("10"), total=Decimal("10"))
        rows["line"] = SaleLine.objects.create(sale=sale, sku=BARCODE, description=VISA[0], quantity=1,
                                               unit_price=Decimal("10"), line_total=Decimal("10"))
        rows["clean_line"] = SaleLine.objects.create(sale=sale, sku="ARROZ-5LB", description="Arroz 5 lb",
                                                     quantity=1, unit_price=Decimal("0"), line_total=Decimal("0"))
        rows["tender"] = Tender.objects.create(sale=sale, kind="card", amount=Decimal("10"), card_last4="7092",
                                               processor_ref=SIX_REST[0])
        rows["status"] = DeviceStatus.objects.create(client_uuid=uuid.uuid4(), location_code=location.code,
                                                     device="printer", state="error", detail=VISA_13[0], reported_at=now)
        rows["shift"] = ShiftClose.objects.create(
            client_uuid=uuid.uuid4(), location_code=location.code, opened_at=now, closed_at=now,
            cashier=MASTERCARD[0], sales_count=0, sales_total=0, expected_cash=0, counted_cash=0)
    connection.set_schema_to_public()
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://hooks.example.com/in",
                                              description=AMEX[0], event_types=["sale.completed"], secret_vault_key="k")
    rows["event"] = OutboxEvent.objects.create(
        event_type="sale.completed", merchant=merchant,
        payload={"sale_id": "x", "product_id": SHOPIFY_ID, "lines": [{"description": "Pan", "note": DISCOVER[0]}]})
    delivery = EventDelivery.objects.create(
        event=rows["event"], merchant=merchant, subscriber_kind=SubscriberKind.WEBHOOK,
        subscriber_key=f"webhook:{endpoint.pk}", webhook_endpoint=endpoint, status=DeliveryStatus.SUCCEEDED,
        max_attempts=5, succeeded_at=now)
    rows["attempt"] = DeliveryAttempt.objects.create(delivery=delivery, number=1, succeeded=False,
                                                     error=f"receiver said: {MASTERCARD[0]}")
    integration = active_acumatica(merchant, by=personas.merchant_admin)
    rows["inbound"] = InboundWebhook.objects.create(
        merchant_integration=integration, vendor_webhook_id="w1", topic="orders/create",
        body=json.dumps({"id": SHOPIFY_ID, "admin_graphql_api_id": f"gid://shopify/Order/{SHOPIFY_ID}",
                         "note": VISA[0]}, ensure_ascii=False))
    rows["sync_log"] = IntegrationSyncLog.objects.create(
        merchant_integration=integration, direction="push", status="failed", error_summary=SIX_REST[0],
        started_at=now, finished_at=now)
    rows["terminal"] = Terminal.objects.create(location=location, name=f"Caja {VISA_13[1]}", token_hash=uuid.uuid4().hex)
    MerchantIntegration.objects.filter(pk=integration.pk).update(configuration={"memo": CONFIG[0], "store": "1"})
    rows["integration"] = integration
    rows["secret_key"] = new_vault_key("scan-test")
    get_vault().put(rows["secret_key"], {"api_key": SECRET[0], "client_id": "abc"})
    rows["endpoint"], rows["merchant"] = endpoint, merchant
    return rows


def _expected(planted) -> set:
    schema = planted["merchant"].schema_name
    from qiiub.models import VaultSecret

    secret_pk = str(VaultSecret.objects.get(key=planted["secret_key"]).pk)
    return {
        (schema, "store_saleline", str(planted["line"].pk), "description", "", VISA[2]),
        (schema, "store_tender", str(planted["tender"].pk), "processor_ref", "", SIX_REST[2]),
        (schema, "store_devicestatus", str(planted["status"].pk), "detail", "", VISA_13[2]),
        (schema, "store_shiftclose", str(planted["shift"].pk), "cashier", "", MASTERCARD[2]),
        ("public", "integrations_webhookendpoint", str(planted["endpoint"].pk), "description", "", AMEX[2]),
        ("public", "integrations_outboxevent", str(planted["event"].pk), "payload", "lines[0].note", DISCOVER[2]),
        ("public", "integrations_deliveryattempt", str(planted["attempt"].pk), "error", "", MASTERCARD[2]),
        ("public", "integrations_inboundwebhook", str(planted["inbound"].pk), "body", "note", VISA[2]),
        ("public", "integrations_integrationsynclog", str(planted["sync_log"].pk), "error_summary", "", SIX_REST[2]),
        ("public", "devices_terminal", str(planted["terminal"].pk), "name", "", VISA_13[2]),
        ("public", "integrations_merchantintegration", str(planted["integration"].pk), "configuration", "memo",
         CONFIG[2]),
        ("public", "qiiub_vaultsecret", secret_pk, "ciphertext", "api_key", SECRET[2]),
    }


def _found(scan) -> set:
    return {(hit.schema, hit.table, hit.row_key, hit.column, hit.path, hit.shown) for hit in scan.hits.all()}


def _dump(merchant) -> str:
    """Every table the plant touches, as text, decrypted: what must not change apart from the hits."""
    from qiiub.models import VaultSecret

    with schema_context(merchant.schema_name):
        tenant = [list(model.objects.order_by("pk").values()) for model in (Sale, SaleLine, Tender, DeviceStatus, ShiftClose)]
    connection.set_schema_to_public()
    public = [list(model.objects.order_by("pk").values()) for model in (
        WebhookEndpoint, OutboxEvent, DeliveryAttempt, InboundWebhook, IntegrationSyncLog, Terminal)]
    public.append([(row.pk, row.configuration) for row in MerchantIntegration.objects.order_by("pk")])
    public.append([(key, get_vault().get(key)) for key in VaultSecret.objects.order_by("pk").values_list("key", flat=True)])
    return json.dumps([tenant, public], default=str, sort_keys=True, ensure_ascii=False)


def test_every_planted_card_number_is_found_where_it_is_and_nothing_else(planted):
    scan = card_data_scan(requested_by="test")
    assert _found(scan) == _expected(planted)
    assert scan.hit_count == len(_expected(planted)) and scan.status == "finished"
    assert scan.tables_scanned > 20 and scan.schemas_scanned > 1
    event_hit = scan.hits.get(table="integrations_outboxevent")
    assert event_hit.delivered_to == ["webhook https://hooks.example.com/in"]
    assert event_hit.merchant == planted["merchant"]
    assert scan.hits.get(table="store_tender").merchant == planted["merchant"]
    assert not CardRedaction.objects.exists()


def test_redact_masks_each_hit_in_place_audits_each_table_and_changes_nothing_else(planted):
    before = _dump(planted["merchant"])
    scan = card_data_scan(redact=True, requested_by="ops@qiiub")
    after = _dump(planted["merchant"])
    assert _found(scan) == _expected(planted)
    # every hit is masked but the secret's: masking would break the credential, so it is reported to rotate
    assert {hit.table for hit in scan.hits.filter(redacted=False)} == {"qiiub_vaultsecret"}
    for _, digits, shown in (VISA, SIX_REST, VISA_13, MASTERCARD, AMEX, DISCOVER, CONFIG):
        assert digits not in _only_digits(after), digits
        assert shown[:6] in _only_digits(after)  # the first six are kept…
    assert "Café 4111 11XX XXXX 1111 gracias" in after and "620578 XXXXXXXXX7092" in after  # …in their place
    assert _unmasked(before, after) == []
    assert str(SHOPIFY_ID) in after and f"gid://shopify/Order/{SHOPIFY_ID}" in after and BARCODE in after
    audits = {(audit.schema, audit.table, audit.rows, audit.actor) for audit in scan.redactions.all()}
    assert len(audits) == len(_expected(planted)) - 1
    assert all(audit[2] == 1 and audit[3] == "ops@qiiub" for audit in audits)
    assert {hit.table for hit in card_data_scan(requested_by="test").hits.all()} == {"qiiub_vaultsecret"}


def _only_digits(text: str) -> str:
    return " ".join("".join(char for char in word if char.isdigit()) for word in text.split('"'))


def _unmasked(before: str, after: str) -> list:
    """Characters that changed into something other than the mask X."""
    if len(before) != len(after):
        return ["length changed"]
    return [(index, a, b) for index, (a, b) in enumerate(zip(before, after, strict=True)) if a != b and b != "X"]


def test_the_command_reports_first_six_and_last_four_at_most_and_logs_nothing_more(planted, caplog):
    out = io.StringIO()
    with caplog.at_level(logging.DEBUG):
        call_command("scan_card_data", stdout=out)
    text = out.getvalue() + caplog.text
    for _, digits, shown in (VISA, SIX_REST, VISA_13, MASTERCARD, AMEX, DISCOVER, CONFIG, SECRET):
        assert digits not in _only_digits(text) and digits[6:-4] not in text.replace(shown, "")
        assert shown in out.getvalue()
    assert f"{len(_expected(planted))} card numbers found" in out.getvalue()
    assert "already delivered to webhook https://hooks.example.com/in" in out.getvalue()


def test_the_weekly_task_scans_without_masking(planted):
    assert scan_card_data.run() == len(_expected(planted))
    scan = CardScan.objects.get()
    assert scan.requested_by == "weekly schedule" and not scan.redact
    assert not CardScanHit.objects.filter(redacted=True).exists()
    with schema_context(planted["merchant"].schema_name):
        assert SaleLine.objects.get(pk=planted["line"].pk).description == VISA[0]


def test_only_superusers_see_scans_in_the_admin(planted, client, personas, django_user_model):
    scan = card_data_scan(requested_by="test")
    client.force_login(personas.sysadmin)
    page = client.get(f"/admin/compliance/cardscan/{scan.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "620578…7092" in body and "store_tender" in body and "6205783086271497092" not in body
    staff = django_user_model.objects.create_user("staff-only", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(f"/admin/compliance/cardscan/{scan.pk}/change/").status_code in (302, 403)


def test_the_merchant_sees_events_that_went_out_with_a_card_until_an_admin_marks_them_done(planted, client, personas):
    merchant = planted["merchant"]  # the colmado: its admin is the retail persona
    card_data_scan(requested_by="test")
    client.force_login(personas.retail_admin)
    page = client.get(f"/portal/m/{merchant.slug}/").content.decode()
    assert "Card numbers went out in events" in page and "•••• 9424" in page
    assert "https://hooks.example.com/in" in page and "not masked yet" in page
    assert "601100" not in page  # the merchant reads the last 4 only

    card_data_scan(redact=True, requested_by="ops")
    assert "masked" in client.get(f"/portal/m/{merchant.slug}/").content.decode()

    client.force_login(personas.merchant_admin)  # another merchant's admin: not theirs to acknowledge
    assert client.post(f"/portal/m/{merchant.slug}/card-data/acknowledge/").status_code == 404
    client.force_login(personas.retail_admin)
    client.post(f"/portal/m/{merchant.slug}/card-data/acknowledge/")
    assert "Card numbers went out in events" not in client.get(f"/portal/m/{merchant.slug}/").content.decode()
    assert CardScanHit.objects.filter(acknowledged_by=personas.retail_admin).exists()


def test_a_scan_of_one_schema_reads_only_it_and_an_unknown_schema_is_refused_before_anything(planted):
    from django.core.management.base import CommandError

    scan = card_data_scan(schemas=[planted["merchant"].schema_name], requested_by="test")
    assert {hit.schema for hit in scan.hits.all()} == {planted["merchant"].schema_name} and scan.hit_count == 4
    before = CardScan.objects.count()
    with pytest.raises(CommandError, match="No such schema: m_nowhere"):
        call_command("scan_card_data", "--schema", "m_nowhere", stdout=io.StringIO())
    assert CardScan.objects.count() == before


def test_a_card_written_with_json_escapes_in_a_raw_body_is_masked_and_a_repeated_key_is_read_as_text(personas):
    planted = _inbound_bodies(personas)
    scan = card_data_scan(redact=True, requested_by="test")
    bodies = {row.vendor_webhook_id: row.body for row in InboundWebhook.objects.filter(pk__in=planted)}
    assert scan.hits.filter(table="integrations_inboundwebhook").count() == 3
    assert "4111\\n1111" not in bodies["escaped"] and "411111XXXXXX1111" in bodies["escaped"].replace("\\n", "")
    assert "\\u0034\\u0031" not in bodies["unicode"]
    assert "4111 1111 1111 1111" not in bodies["repeated"]
    assert card_data_scan(requested_by="test").hit_count == 0


def _inbound_bodies(personas):
    """Three raw bodies: separators as JSON escapes, digits as \\u escapes, a card under a repeated key."""
    integration = active_acumatica(personas.colmado, by=personas.merchant_admin)
    bodies = {
        "escaped": '{"note": "4111\\n1111\\n1111\\n1111"}',
        "unicode": '{"note": "\\u0034\\u0031\\u0031\\u0031 1111 1111 1111"}',
        "repeated": '{"note": "4111 1111 1111 1111", "note": "x"}',
    }
    return [InboundWebhook.objects.create(merchant_integration=integration, vendor_webhook_id=name, topic="t",
                                          body=body).pk for name, body in bodies.items()]


def test_an_acknowledged_event_stays_acknowledged_when_the_weekly_scan_finds_it_again(planted, personas):
    merchant = planted["merchant"]
    from compliance.selectors import delivered_card_events
    from compliance.services import delivered_card_events_acknowledge

    card_data_scan(requested_by="test")
    assert len(delivered_card_events(merchant)) == 1
    delivered_card_events_acknowledge(merchant=merchant, by=personas.retail_admin)
    card_data_scan(requested_by="weekly schedule")
    assert delivered_card_events(merchant) == []


def test_a_secret_that_holds_a_card_number_is_reported_never_masked(planted):
    scan = card_data_scan(redact=True, requested_by="test")
    secret_hit = scan.hits.get(table="qiiub_vaultsecret")
    assert not secret_hit.redacted
    assert get_vault().get(planted["secret_key"])["api_key"] == SECRET[0]
    out = io.StringIO()
    call_command("scan_card_data", stdout=out)
    assert "in a secret: rotate it" in out.getvalue()


def test_digits_of_other_scripts_are_found_by_the_scan(personas):
    devanagari = "4111 1111 1111 1111".translate(str.maketrans("0123456789", "०१२३४५६७८९"))
    integration = active_acumatica(personas.colmado, by=personas.merchant_admin)
    log = IntegrationSyncLog.objects.create(merchant_integration=integration, direction="push", status="failed",
                                            error_summary=f"ref {devanagari}", started_at=timezone.now(),
                                            finished_at=timezone.now())
    scan = card_data_scan(requested_by="test")
    assert scan.hits.get(table="integrations_integrationsynclog").row_key == str(log.pk)

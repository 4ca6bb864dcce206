"""Named personas shared by the demo (`make run`) and the tests: PharmaTech and its pharmacies,
two direct retail merchants, one user per role. Idempotent: a second run duplicates nothing."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.connectors.registry import connects_with_oauth
from integrations.models import (
    IntegrationDefinition,
    IntegrationMapping,
    IntegrationSyncLog,
    MerchantIntegration,
    Status,
    SyncStatus,
)
from integrations.services import configuring, enabling, transitions
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from merchants.models import Merchant, Role, Vertical
from merchants.services import membership_grant, merchant_create
from partners.models import Partner, PartnerIntegrationTemplate
from qiiub.retry import AUTO_PAUSE_AFTER_FAILURES
from seeds import DEMO_PASSWORD

CENT = Decimal("0.01")

PHARMACIES = [
    ("Farmacia San Juan", "farmacia-san-juan", [("SJ01", "Santurce", "San Juan"), ("SJ02", "Río Piedras", "San Juan")]),
    ("Farmacia Ponce", "farmacia-ponce", [("PO01", "Ponce Centro", "Ponce")]),
    ("Farmacia Mayagüez", "farmacia-mayaguez", [("MA01", "Mayagüez Mall", "Mayagüez")]),
    ("Farmacia Caguas", "farmacia-caguas", [("CA01", "Caguas Norte", "Caguas")]),
    ("Farmacia Arecibo", "farmacia-arecibo", [("AR01", "Arecibo Pueblo", "Arecibo")]),
]
RETAIL = [
    ("Colmado Rivera", "colmado-rivera", [("CR01", "Bayamón", "Bayamón")], ["core.pos", "ecommerce"]),
    ("Ferretería Luna", "ferreteria-luna", [("FL01", "Carolina", "Carolina")], ["core.pos"]),
]

# Account ids of the QuickBooks simulator's chart (simulators/quickbooks.py).
QBO_TEMPLATE_MAPPINGS = [
    {"map_group": "PaymentMethod", "source_code": "CASH", "target_code": "36", "target_entity_type": "Account"},
    {"map_group": "PaymentMethod", "source_code": "CREDIT", "target_code": "37", "target_entity_type": "Account"},
    {"map_group": "PaymentMethod", "source_code": "CHECK", "target_code": "38", "target_entity_type": "Account"},
    {"map_group": "TaxCategory", "source_code": "IVU_STATE", "target_code": "80", "target_entity_type": "Account"},
    {"map_group": "TaxCategory", "source_code": "IVU_MUNICIPAL", "target_code": "81", "target_entity_type": "Account"},
    {"map_group": "Revenue", "source_code": "SALES", "target_code": "79", "target_entity_type": "Account"},
]


# Account codes of the Xero simulator's chart (simulators/xero.py).
XERO_MAPPINGS = [
    {"map_group": "PaymentMethod", "source_code": "CASH", "target_code": "090", "target_entity_type": "Account"},
    {"map_group": "PaymentMethod", "source_code": "CREDIT", "target_code": "091", "target_entity_type": "Account"},
    {"map_group": "PaymentMethod", "source_code": "CHECK", "target_code": "092", "target_entity_type": "Account"},
    {"map_group": "TaxCategory", "source_code": "IVU_STATE", "target_code": "820", "target_entity_type": "Account"},
    {"map_group": "TaxCategory", "source_code": "IVU_MUNICIPAL", "target_code": "821", "target_entity_type": "Account"},
    {"map_group": "Revenue", "source_code": "SALES", "target_code": "200", "target_entity_type": "Account"},
]


@dataclass
class Personas:
    partner: Partner
    pharmacies: list[Merchant]
    retail: list[Merchant]
    sysadmin: object
    partner_admin: object
    merchant_admin: object
    retail_admin: object

    @property
    def san_juan(self) -> Merchant:
        return self.pharmacies[0]

    @property
    def colmado(self) -> Merchant:
        return self.retail[0]


def _user(username: str, email: str, **flags):
    user, created = get_user_model().objects.get_or_create(username=username, defaults={"email": email, **flags})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _merchant(name, slug, vertical, partner, modules, locations) -> Merchant:
    existing = Merchant.objects.filter(slug=slug).first()
    if existing:
        return existing
    return merchant_create(
        name=name, slug=slug, vertical=vertical, partner=partner, module_codes=modules, locations=locations
    )


def ensure_personas() -> Personas:
    partner, _ = Partner.objects.get_or_create(slug="pharmatech", defaults={"name": "PharmaTech"})
    pharmacies = [
        _merchant(name, slug, Vertical.PHARMACY, partner, ["core.pos", "pharmacy.rx"], locations)
        for name, slug, locations in PHARMACIES
    ]
    retail = [
        _merchant(name, slug, Vertical.RETAIL, None, modules, locations) for name, slug, locations, modules in RETAIL
    ]
    qbo = IntegrationDefinition.objects.get(code="accounting.quickbooks_online")
    PartnerIntegrationTemplate.objects.get_or_create(
        partner=partner,
        definition=qbo,
        name="Standard QB for Pharmacies",
        defaults={
            "default_configuration": {"posting": "journal_entry"},
            "default_mappings": QBO_TEMPLATE_MAPPINGS,
            "is_default": True,
        },
    )
    sysadmin = _user("sysadmin", "ops@qiiub.local", is_staff=True, is_superuser=True)
    partner_admin = _user("pharmatech-admin", "it@pharmatech.local")
    membership_grant(user=partner_admin, role=Role.PARTNER_ADMIN, partner=partner)
    merchant_admin = _user("sanjuan-admin", "admin@farmaciasanjuan.local")
    membership_grant(user=merchant_admin, role=Role.MERCHANT_ADMIN, merchant=pharmacies[0])
    retail_admin = _user("colmado-admin", "admin@colmadorivera.local")
    membership_grant(user=retail_admin, role=Role.MERCHANT_ADMIN, merchant=retail[0])
    return Personas(partner, pharmacies, retail, sysadmin, partner_admin, merchant_admin, retail_admin)


def _yesterdays_sales(merchant: Merchant, per_location: int = 6) -> None:
    """A few of yesterday's sales at each location (cash and card, state and municipal IVU), as
    the POS upload API would store them, so the nightly journal has something to post."""
    from devices.sales import sale_record

    zone = ZoneInfo(merchant.time_zone)
    yesterday = timezone.now().astimezone(zone).date() - timedelta(days=1)
    for location in merchant.locations.order_by("code"):
        for number in range(per_location):
            subtotal = Decimal(10 + 3 * number)
            state, municipal = (subtotal * Decimal("0.105")).quantize(CENT), (subtotal * Decimal("0.01")).quantize(CENT)
            total = subtotal + state + municipal
            tender = {"kind": "cash", "amount": str(total)} if number % 2 else {
                "kind": "card", "amount": str(total), "card_brand": "visa", "card_last4": "4242", "auth_code": "A1B2C3",
                "entry_method": "contactless"}
            sale_record(merchant=merchant, location=location, sale={
                "client_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo/{location.pk}/{yesterday}/{number}")),
                "completed_at": datetime.combine(yesterday, time(9 + number), tzinfo=zone).isoformat(),
                "subtotal": str(subtotal), "tax_state": str(state), "tax_municipal": str(municipal), "total": str(total),
                "lines": [{"sku": "OTC-100", "description": "Acetaminofén 500 mg", "quantity": "1",
                           "unit_price": str(subtotal), "line_total": str(subtotal)}],
                "tenders": [tender],
            })


def _revoke_in_quickbooks(integration: MerchantIntegration) -> None:
    """The merchant disconnects the app inside QuickBooks: Intuit's revoke endpoint ends the grant."""
    from qiiub.vault import get_vault

    grant = get_vault().get(MerchantIntegration.objects.get(pk=integration.pk).credentials_vault_key)
    requests.post(settings.QUICKBOOKS["revoke_url"], json={"token": grant["refresh_token"]}, timeout=5,
                  auth=(settings.QUICKBOOKS["client_id"], settings.QUICKBOOKS["client_secret"])).raise_for_status()


def _control(simulator_url: str, **control) -> None:
    requests.post(f"{simulator_url}/_control", json=control, timeout=5).raise_for_status()


def oauth_connect_on_simulator(integration: MerchantIntegration, *, by) -> None:
    """What an admin's browser does on the simulator's consent page: follow the authorize URL and
    hand the callback's code to the same service the portal's callback calls."""
    from integrations.services import oauth

    redirect_uri = "http://127.0.0.1/portal/oauth/callback/"
    consent = oauth.provider_for(integration).authorize_url(state="demo", redirect_uri=redirect_uri)
    answer = requests.get(consent, allow_redirects=False, timeout=5)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    oauth.oauth_complete(integration=integration, code=query["code"][0], company_id=query.get("realmId", [""])[0],
                         redirect_uri=redirect_uri, by=by)


def _connect(merchant, code, *, by, configuration=None, credentials=None, location=None, activate=True):
    definition = IntegrationDefinition.objects.get(code=code)
    if MerchantIntegration.objects.filter(merchant=merchant, definition=definition, location=location).exists():
        return None
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition, location=location, by=by)
    if configuration is not None:
        integration = configuring.merchant_integration_configure(integration=integration, configuration=configuration, by=by)
    if connects_with_oauth(definition.pk):
        oauth_connect_on_simulator(integration, by=by)
    elif credentials:
        integration = configuring.merchant_integration_set_credentials(integration=integration, credentials=credentials, by=by)
    if activate:
        if failure := configuring.merchant_integration_test_connection(integration=integration, by=by):
            raise failure  # the demo must not pretend: a simulator that refuses is a broken set-up
        integration = transitions.merchant_integration_activate(integration=integration, by=by)
    return integration


def _history(integration: MerchantIntegration, days: int = 3) -> None:
    """Backdated sync logs so the dashboard shows a few days of activity."""
    now = timezone.now()
    rows = []
    for hour in range(1, days * 24, 6):
        started = now - timedelta(hours=hour)
        failed = hour % 30 == 1
        rows.append(
            IntegrationSyncLog(
                merchant_integration=integration,
                direction="push",
                status=SyncStatus.FAILED if failed else SyncStatus.SUCCESS,
                records_pushed=0 if failed else 12 + hour % 17,
                error_count=1 if failed else 0,
                duration_ms=300 + hour * 7,
                error_message={"code": "vendor_status", "params": {"vendor": integration.definition.name, "status": 503}}
                if failed else {},
                started_at=started,
                finished_at=started + timedelta(milliseconds=300 + hour * 7),
            )
        )
    IntegrationSyncLog.objects.bulk_create(rows)


def _reconnect_forgotten_grants() -> None:
    """The vendor simulators keep their grants in memory: after a restart, the demo's active OAuth
    connections are unknown to them, so each is connected again through the consent page (as an
    admin would after a vendor outage) instead of failing at the next nightly batch."""
    from integrations.connectors.registry import connector_for
    from qiiub.http import AuthExpired

    for integration in MerchantIntegration.objects.filter(status=Status.ACTIVE).select_related("merchant"):
        if not connects_with_oauth(integration.definition_id):
            continue
        try:
            connector_for(integration).test_connection()
        except AuthExpired:
            oauth_connect_on_simulator(integration, by=None)


def ensure_demo_integrations(personas: Personas) -> None:
    """A few integrations in different states, made through the services against the simulator."""
    _reconnect_forgotten_grants()
    admin = personas.merchant_admin
    san_juan = personas.san_juan
    qbo = _connect(san_juan, "accounting.quickbooks_online", by=admin)
    if qbo:
        _history(qbo)
        _yesterdays_sales(san_juan)
        merchant_integration_sync(integration=qbo, due=SCHEDULED_BATCHES)  # yesterday's journals, one per location
    # Webhooks enabled but no endpoint added yet: its connection test asks for one first.
    _connect(san_juan, "platform.webhooks", by=admin, activate=False)
    acumatica = _connect(
        san_juan, "erp.acumatica", by=admin,
        configuration={"instance_url": "https://sanjuan.acumatica.com", "company": "FSJ", "endpoint_version": "23.200.001", "poll_every_minutes": 15},
        credentials={"username": "demo-sj-erp", "password": "demo-sj-erp-pass"},
    )
    if acumatica:  # Acumatica down for three polls in a row: auto-paused, the admins emailed
        _control(settings.ACUMATICA_BASE_URL, fail={"status": 503, "count": AUTO_PAUSE_AFTER_FAILURES})
        for _ in range(AUTO_PAUSE_AFTER_FAILURES):
            merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=acumatica.pk))
    # The monthly IVU return: last month's prepared (the admins were told), waiting to be filed.
    suri = _connect(san_juan, "tax.suri_ivu", by=admin,
                    configuration={"merchant_registration_number": "20260101", "reminder_days_before_due": 5})
    if suri:
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=suri.pk), due=SCHEDULED_BATCHES)
    ponce = personas.pharmacies[1]
    ponce_qbo = _connect(ponce, "accounting.quickbooks_online", by=personas.partner_admin)
    if ponce_qbo:
        _history(ponce_qbo, days=1)
        _yesterdays_sales(ponce)
        _revoke_in_quickbooks(ponce_qbo)
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=ponce_qbo.pk), due=SCHEDULED_BATCHES)
    colmado = personas.colmado
    shopify = _connect(
        colmado, "ecommerce.shopify", by=personas.retail_admin,
        configuration={"shop_domain": "colmado-rivera.myshopify.com", "push_inventory": True},
        credentials={"admin_api_token": "demo-cr-shop", "webhook_secret": "demo-cr-whsec"},
    )
    if shopify:
        _history(shopify, days=2)
    # Polled every 5 minutes (the shortest Acumatica allows) while `make run` runs: polls visibly flow.
    caguas = personas.pharmacies[3]
    _connect(
        caguas, "erp.acumatica", by=personas.partner_admin,
        configuration={"instance_url": "https://caguas.acumatica.com", "company": "FCA", "endpoint_version": "23.200.001",
                       "poll_every_minutes": 5},
        credentials={"username": "demo-ca-erp", "password": "demo-ca-erp-pass"},
    )
    # A direct retailer on Xero: its own mappings (no partner template), yesterday's journal posted.
    luna = personas.retail[1]
    xero = _connect(luna, "accounting.xero", by=None)
    if xero:
        IntegrationMapping.objects.bulk_create([IntegrationMapping(merchant_integration=xero, **row)
                                                for row in XERO_MAPPINGS])
        _yesterdays_sales(luna)
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=xero.pk), due=SCHEDULED_BATCHES)


# The demo stores' shelves. Colmado Rivera's SKUs are the Shopify simulator's variants, so its
# counts reach the online store's levels.
DEMO_CATALOGS = {
    "colmado-rivera": [(f"SKU-{number:03d}", name, price) for number, (name, price) in enumerate([
        ("Café Yaucono 1 lb", "6.49"), ("Arroz Sello Rojo 5 lb", "4.99"), ("Habichuelas Goya 15 oz", "1.29"),
        ("Aceite Goya 48 oz", "7.99"), ("Sazón Goya", "2.49"), ("Malta India 6 pk", "5.99"),
        ("Pan sobao", "2.25"), ("Leche Suiza 1/2 gal", "3.79"), ("Avena Quaker", "4.29"),
        ("Galletas Export Sodas", "3.49"), ("Adobo Goya 8 oz", "2.99"), ("Guineo verde (lb)", "0.89")], start=1)],
    "farmacia-san-juan": [("OTC-100", "Acetaminofén 500 mg", "6.99"), ("OTC-200", "Ibuprofeno 200 mg", "7.49"),
                          ("OTC-300", "Vitamina C 1000 mg", "9.99")],
    "ferreteria-luna": [("FL-TORN-8", "Tornillos 8 × 1 in (100)", "5.49"), ("FL-PINT-1G", "Pintura blanca 1 gal", "24.99")],
}
DEMO_CUSTOMERS = {
    "colmado-rivera": [("CR-1001", "Ana Rivera", "ana.rivera@example.com", "+1 787-555-0101", True),
                       ("CR-1002", "José Colón", "jose.colon@example.com", "+1 787-555-0102", False),
                       ("CR-1003", "Carmen Ortiz", "", "+1 787-555-0103", True)],
    "farmacia-san-juan": [("SJ-2001", "Luis Santiago", "luis.santiago@example.com", "", True),
                          ("SJ-2002", "María Torres", "maria.torres@example.com", "+1 787-555-0202", False)],
}


def _demo_id(*parts: object) -> str:
    """A client UUID that is the same on every run: a second run's records are duplicates."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "demo/" + "/".join(map(str, parts))))


def ensure_demo_store_data(personas: Personas) -> None:
    """The demo stores' catalog, a first stock count (and at San Juan a transfer between its two
    stores) and a few customers, recorded as registers would: each count is an `inventory.changed`
    (Colmado's reach Shopify), each customer a `customer.created`. Idempotent."""
    from devices.sales import records_record
    from integrations.products import ProductChange, products_upsert

    when = timezone.now().replace(hour=7, minute=0, second=0, microsecond=0).isoformat()
    for merchant in (*personas.retail, personas.san_juan):
        catalog = DEMO_CATALOGS.get(merchant.slug, [])
        products_upsert(merchant=merchant, changes=[ProductChange(sku, name, Decimal(price))
                                                    for sku, name, price in catalog])
        for location in merchant.locations.order_by("code"):
            records_record(merchant=merchant, location=location, records=[
                {"type": "inventory", "client_uuid": _demo_id(location.pk, "count", sku), "change": "count",
                 "sku": sku, "location": location.code, "on_hand": 24 + 6 * index, "occurred_at": when}
                for index, (sku, _name, _price) in enumerate(catalog)])
        customers = DEMO_CUSTOMERS.get(merchant.slug, [])
        records_record(merchant=merchant, location=merchant.locations.order_by("code").first(), records=[
            {"type": "customer", "client_uuid": _demo_id(merchant.pk, "customer", code), "customer_code": code,
             "name": name, **({"email": email} if email else {}), **({"phone": phone} if phone else {}),
             "marketing_consent": consent, "created_at": "2026-01-15T10:00:00-04:00",
             "updated_at": "2026-01-15T10:00:00-04:00"}
            for code, name, email, phone, consent in customers])
    santurce, rio_piedras = personas.san_juan.locations.order_by("code")
    records_record(merchant=personas.san_juan, location=santurce, records=[{
        "type": "inventory", "client_uuid": _demo_id(santurce.pk, "transfer", "OTC-100"), "change": "transfer",
        "sku": "OTC-100", "location": santurce.code, "to_location": rio_piedras.code, "quantity": 6,
        "reason": "store_transfer", "occurred_at": timezone.now().isoformat()}])


def ensure_demo_pos_settings(personas: Personas) -> None:
    """POS settings at each level, so the explain view has something to explain. Idempotent."""
    from devices import cascade
    from devices.models import SettingValue

    if SettingValue.objects.filter(partner=personas.partner).exists():
        return
    cascade.setting_value_set(key="pos.receipt.footer", owner=personas.partner,
                              value="PharmaTech cuida de su salud", locked=True)
    cascade.setting_value_set(key="payments.offline.tenders", owner=personas.partner, value=["cash", "check"])
    santurce = personas.san_juan.locations.get(code="SJ01")
    cascade.setting_value_set(key="devices.receipt_printer", owner=santurce, value={
        "model": "epson_tm_t88", "connection": {"type": "tcp", "host": "10.20.0.31", "port": 9100},
        "paper_width_mm": 80, "cash_drawer_kick": True})
    cascade.setting_value_set(key="devices.payment_terminal", owner=santurce, value={
        "vendor": "pax", "model": "A920", "connection": {"type": "tcp", "host": "10.20.0.40", "port": 10009}})
    cascade.setting_value_set(key="pos.language", owner=personas.retail[0], value="en")


DEMO_PHARMACY_LOCATION = "SJ01"  # Santurce: its relay talks to the Rx30-mode simulator


def ensure_demo_pharmacy(personas: Personas) -> MerchantIntegration:
    """Rx30 at Santurce, pointing at the Rx30-mode simulator (PHARMACYCOM_BASE_URL, as `make run`
    serves it). It stays `configuring` until the store's relay reports: `demo_pharmacy_relay`."""
    location = personas.san_juan.locations.get(code=DEMO_PHARMACY_LOCATION)
    port = urlsplit(os.environ.get("PHARMACYCOM_BASE_URL", "http://127.0.0.1:8770")).port
    configuration = {"mode": "service", "server_host": "127.0.0.1", "server_port": port, "use_tls": False}
    _connect(personas.san_juan, "pharmacy.rx30", by=personas.merchant_admin, location=location,
             configuration=configuration, activate=False)
    return MerchantIntegration.objects.get(merchant=personas.san_juan, location=location,
                                           definition__code="pharmacy.rx30")

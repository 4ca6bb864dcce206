"""The demo's money: Farmacia San Juan takes cards through Stripe and Colmado Rivera takes ATH Móvil,
each with yesterday's card sales at the till and what the processor settled for them (planted at
its simulator, as the stores' P2PE terminals would have made them), a few differences of each kind
to find, and yesterday reconciled so the money trail has something to show. Idempotent: the
processor simulators forget on restart, so what they hold is planted again each run."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.sales import sale_record
from integrations.connectors.registry import connector_for
from integrations.models import IntegrationDefinition, MerchantIntegration
from integrations.services import configuring, enabling, transitions
from merchants.models import Merchant
from merchants.store.models import Tender
from payments.settlement import reconcile

STRIPE_DEMO_KEY = "sk_test_qiiubdemo0001"
ATH_DEMO_TOKENS = {"public_token": "demo-public-colmado", "private_token": "demo-private-colmado"}
# The Dynamics Payments simulator's built-in demo site.
DYNAMICS_DEMO_SITE = {"site_id": "QIIUB-DEMO", "session_id": "demo-session", "secret": "demo-secret",
                      "merchant_key": "MK-DEMO"}
CENT = Decimal("0.01")


def _connected(merchant: Merchant, code: str, credentials: dict, *, by) -> MerchantIntegration:
    existing = MerchantIntegration.objects.filter(merchant=merchant, definition__code=code).first()
    if existing is not None:
        return existing
    integration = enabling.merchant_integration_enable(
        merchant=merchant, definition=IntegrationDefinition.objects.get(code=code), by=by)
    integration = configuring.merchant_integration_set_credentials(integration=integration, credentials=credentials,
                                                                   by=by)
    if failure := configuring.merchant_integration_test_connection(integration=integration, by=by):
        raise failure  # the demo must not pretend: a simulator that refuses is a broken set-up
    return transitions.merchant_integration_activate(integration=integration, by=by)


def _plant(simulator_url: str, **control) -> None:
    """Plant at a processor simulator; one still running from an earlier run holds it already."""
    answer = requests.post(f"{simulator_url}/_control", json=control, timeout=10)
    if answer.status_code == 400 and ("already" in answer.text or "used twice" in answer.text):
        return
    answer.raise_for_status()


def _card_sale(merchant: Merchant, location, at: datetime, key: str, amount: Decimal, tender: dict) -> None:
    subtotal = (amount / Decimal("1.115")).quantize(CENT)
    state = (subtotal * Decimal("0.105")).quantize(CENT)
    municipal = amount - subtotal - state
    sale_record(merchant=merchant, location=location, sale={
        "client_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-payments/{key}")), "completed_at": at.isoformat(),
        "subtotal": str(subtotal), "tax_state": str(state), "tax_municipal": str(municipal), "total": str(amount),
        "lines": [{"sku": "OTC-200", "description": "Vitamina C 1000 mg", "quantity": "1", "unit_price": str(subtotal),
                   "line_total": str(subtotal)}],
        "tenders": [{"kind": "card", "amount": str(amount), **tender}]})


def _stand_in_tenders(merchant: Merchant, day, zone) -> list[tuple[str, datetime, Decimal, str, str]]:
    """The day's card tenders with no processor reference (the accounting demo's sales): the
    processor settled them too, found by auth code + last 4 + amount at the store's terminal.
    Returns (store code, sold at, amount, auth code, last 4)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    with schema_context(merchant.schema_name):
        return list(Tender.objects.filter(kind="card", processor_ref="", sale__completed_at__gte=start,
                                          sale__completed_at__lt=start + timedelta(days=1))
                    .values_list("sale__location_code", "sale__completed_at", "amount", "auth_code", "card_last4"))


def _stripe_day(integration: MerchantIntegration, day, zone) -> None:
    """Six card sales per store; Stripe settled them but for one it never saw (at the till only), one
    it charged differently, and one charge no till rang up."""
    merchant = integration.merchant
    charges = []
    for location in merchant.locations.order_by("code"):
        for number in range(6):
            at = datetime.combine(day, time(9 + number, 15), tzinfo=zone)
            amount = Decimal(12 + 4 * number) + Decimal("0.45")
            intent = f"pi_demo{day:%Y%m%d}{location.code}{number}"
            _card_sale(merchant, location, at, intent, amount, {
                "card_brand": "visa", "card_last4": f"42{number}{number}", "auth_code": f"SJ{number}4{number}2",
                "entry_method": "contactless", "processor_ref": intent})
            if number == 5 and location.code.endswith("2"):
                continue  # the terminal's charge never reached Stripe
            settled = amount + Decimal("1.00") if number == 4 and location.code.endswith("1") else amount
            charges.append({"payment_intent": intent, "amount": int(settled * 100), "created": int(at.timestamp()) + 30,
                            "brand": "visa", "last4": f"42{number}{number}", "authorization_code": f"SJ{number}4{number}2",
                            "terminal": location.code})
    for code, sold_at, amount, auth, last4 in _stand_in_tenders(merchant, day, zone):
        charges.append({"amount": int(amount * 100), "created": int(sold_at.timestamp()) + 45, "brand": "visa",
                        "last4": last4, "authorization_code": auth, "terminal": code})
    charges.append({"payment_intent": f"pi_demo{day:%Y%m%d}unrung", "amount": 2599, "brand": "mastercard",
                    "last4": "5100", "created": int(datetime.combine(day, time(17, 40), tzinfo=zone).timestamp())})
    _plant(settings.STRIPE_API_URL, charges={STRIPE_DEMO_KEY: charges})


def _ath_day(integration: MerchantIntegration, day, zone) -> None:
    merchant = integration.merchant
    location = merchant.locations.order_by("code").first()
    planted = []
    for number in range(4):
        at = datetime.combine(day, time(10 + number * 2), tzinfo=zone)
        amount = Decimal(8 + 5 * number) + Decimal("0.92")
        reference = f"402-7{day:%m%d}{number:03d}"
        _card_sale(merchant, location, at, reference, amount, {
            "card_brand": "ath_movil", "card_last4": f"55{number}1", "entry_method": "contactless",
            "processor_ref": reference})
        planted.append({"transactionType": "PAYMENT", "date": at.strftime("%Y-%m-%d %H:%M:%S"), "total": str(amount),
                        "referenceNumber": reference})
    _plant(settings.ATHMOVIL_PAYMENTS_URL.removesuffix(settings.ATHMOVIL_PATH), transactions={ATH_DEMO_TOKENS["public_token"]: planted})


def _dynamics_day(integration: MerchantIntegration, day, zone) -> None:
    """Five card sales, batch-closed that night, but one the store voided at the processor after
    the till had recorded it (it never settles)."""
    merchant = integration.merchant
    location = merchant.locations.order_by("code").first()
    items = []
    for number in range(5):
        at = datetime.combine(day, time(9 + number * 2, 40), tzinfo=zone)
        amount = Decimal(15 + 6 * number) + Decimal("0.61")
        transaction = f"88{day:%m%d}{number:03d}"
        if number == 3:
            gateway = connector_for(integration)
            held = gateway.authorize(amount=amount, payment_method="tok_mastercard_5130", reference=transaction,
                                     idempotency_key=transaction)
            transaction = gateway.void(processor_ref=held.processor_ref, idempotency_key=transaction).processor_ref
        _card_sale(merchant, location, at, f"dynamics-{day}-{number}", amount, {
            "card_brand": "mastercard", "card_last4": f"51{number}0", "auth_code": f"0{number}4411",
            "entry_method": "chip", "processor_ref": transaction})
        if number != 3:
            items.append({"IDTransaction": transaction, "Type": "Venta", "Amount": str(amount),
                          "AuthNumber": f"0{number}4411", "last4": f"51{number}0", "brand": "mastercard",
                          "TransactionDate": at.strftime("%Y-%m-%dT%H:%M:%S")})
    for code, sold_at, amount, auth, last4 in _stand_in_tenders(merchant, day, zone):
        items.append({"Type": "Venta", "Amount": str(amount), "AuthNumber": auth, "last4": last4, "brand": "visa",
                      "TransactionDate": (sold_at.astimezone(zone) + timedelta(seconds=45)).strftime(
                          "%Y-%m-%dT%H:%M:%S"), "TerminalId": code})
    close = datetime.combine(day, time(23, 30), tzinfo=zone).strftime("%Y-%m-%dT%H:%M:%S")
    _plant(settings.DYNAMICS_PAYMENTS_API_URL.removesuffix("/WebApi/APaymentTokenApi"),
           settled_batches={DYNAMICS_DEMO_SITE["merchant_key"]: [{"close_date": close, "items": items}]})


def ensure_demo_payments(personas) -> None:
    san_juan, colmado, ponce = personas.san_juan, personas.colmado, personas.pharmacies[1]
    stripe = _connected(san_juan, "payments.stripe", {"secret_key": STRIPE_DEMO_KEY}, by=personas.merchant_admin)
    ath = _connected(colmado, "payments.athmovil", ATH_DEMO_TOKENS, by=personas.retail_admin)
    dynamics = _connected(ponce, "payments.dynamics", DYNAMICS_DEMO_SITE, by=personas.partner_admin)
    for integration, plant in ((stripe, _stripe_day), (ath, _ath_day), (dynamics, _dynamics_day)):
        merchant = integration.merchant
        zone = ZoneInfo(merchant.time_zone)
        yesterday = timezone.now().astimezone(zone).date() - timedelta(days=1)
        plant(integration, yesterday, zone)
        reconcile(integration=integration, days=[yesterday])

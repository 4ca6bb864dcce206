"""Payments test helpers: a merchant's processor connected through the lifecycle services, and a
card sale paid through it (the charge planted at the processor fake, as a P2PE terminal makes it)."""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from integrations.services import configuring, enabling, transitions
from tests.factories import definition, sell

STRIPE_KEY = "sk_test_merchant0001"


def processor_connected(merchant, code: str, credentials: dict, *, configuration: dict | None = None):
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition(code), by=None)
    if configuration:
        integration = configuring.merchant_integration_configure(integration=integration, configuration=configuration,
                                                                 by=None)
    integration = configuring.merchant_integration_set_credentials(integration=integration, credentials=credentials,
                                                                   by=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def stripe_connected(merchant, key: str = STRIPE_KEY, **options):
    return processor_connected(merchant, "payments.stripe", {"secret_key": key, "webhook_secret": "whsec_test1"},
                               **options)


def stripe_card_sale(stripe_fake, merchant, *, at: datetime, amount: str = "11.15", subtotal: str = "10.00",
                     state: str = "0.90", municipal: str = "0.25", key: str = STRIPE_KEY, location=None,
                     refunded: str | None = None) -> tuple[str, str]:
    """A sale paid by card through Stripe Terminal: the charge at Stripe, the sale at the till.
    Returns (the sale's client UUID, the PaymentIntent id)."""
    intent = f"pi_{int(time.time() * 1e6)}"
    planted = {"payment_intent": intent, "amount": int(Decimal(amount) * 100), "created": int(at.timestamp()),
               "brand": "visa", "last4": "4242", "authorization_code": "A1B2C3"}
    if refunded:
        planted["refunds"] = [{"amount": int(Decimal(refunded) * 100), "created": int(at.timestamp()) + 60}]
    stripe_fake.control(charges={key: [planted]})
    sale_id, _ = sell(merchant, at=at, location=location, lines=(("standard", subtotal),), state=state,
                      municipal=municipal, tenders=[{"kind": "card", "amount": amount, "card_brand": "visa",
                                                     "card_last4": "4242", "entry_method": "contactless",
                                                     "auth_code": "A1B2C3", "processor_ref": intent}])
    return sale_id, intent

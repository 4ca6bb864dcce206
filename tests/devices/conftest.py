import uuid
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from devices.terminals import enrollment_code_create, terminal_enroll


def enrolled(location, name="Register 1"):
    _, code = enrollment_code_create(location=location)
    terminal, token = terminal_enroll(code=code, name=name, app_version="possync 4.2.0")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return SimpleNamespace(terminal=terminal, token=token, client=client, location=location)


@pytest.fixture
def terminal(personas):
    return enrolled(personas.colmado.locations.order_by("code").first())


def sale_record(**changes) -> dict:
    record = {
        "type": "sale", "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(),
        "subtotal": "10.00", "tax_state": "1.05", "tax_municipal": "0.10", "total": "11.15",
        "lines": [{"sku": "CAFE-1LB", "description": "Café Yaucono 1 lb", "quantity": "1", "unit_price": "10.00",
                   "line_total": "10.00"}],
        "tax_lines": [{"jurisdiction": "state", "rate": "0.105", "taxable_amount": "10.00", "amount": "1.05"},
                      {"jurisdiction": "municipal", "rate": "0.01", "taxable_amount": "10.00", "amount": "0.10"}],
        "tenders": [{"kind": "cash", "amount": "5.15"},
                    {"kind": "card", "amount": "6.00", "card_brand": "visa", "card_last4": "4242", "auth_code": "A1B2C3",
                     "processor_ref": "RRN-731004", "entry_method": "contactless"}],
    }
    record.update(changes)
    return record


@pytest.fixture(autouse=True)
def _enroll_throttle_cleared():
    """Each test starts with the enrollment rate limit untouched (its counter lives in Redis)."""
    from django.core.cache import cache
    from rest_framework.throttling import ScopedRateThrottle

    cache.delete(ScopedRateThrottle.cache_format % {"scope": "pos-enroll", "ident": "127.0.0.1"})

"""POS uploads of stock changes and customers (bench/pos.py runs this after the sales ingest):
batches of 100 `inventory` records (counts, receiving, shrink and adjustments over 50 SKUs, so
levels are locked, moved in order and published) and of 100 `customer` records, through the WSGI
application as a terminal sends them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

BATCHES, BATCH_SIZE, SKUS = 20, 100, 50
REASONS = {"receiving": ("purchase_order", 1), "shrink": ("damaged", -1), "adjustment": ("correction", -1)}


def _inventory(location_code: str, index: int) -> dict:
    from django.utils import timezone

    record = {"type": "inventory", "client_uuid": str(uuid.uuid4()), "sku": f"INV-{index % SKUS:03d}",
              "location": location_code, "occurred_at": timezone.now().isoformat()}
    if index % 10 == 0:
        return {**record, "change": "count", "on_hand": 500}
    change = ("receiving", "shrink", "adjustment")[index % 3]
    reason, sign = REASONS[change]
    return {**record, "change": change, "quantity": sign * (1 + index % 4), "reason": reason}


def _customer(index: int) -> dict:
    from django.utils import timezone

    now = timezone.now().isoformat()
    return {"type": "customer", "client_uuid": str(uuid.uuid4()), "customer_code": f"B-{uuid.uuid4().hex[:12]}",
            "name": f"Cliente {index}", "email": f"cliente{index}@example.com", "phone": "+1 787-555-0100",
            "marketing_consent": index % 2 == 0, "created_at": now, "updated_at": now}


def inventory_ingest(fleet: dict, post: Callable[[object, str, str, bytes], str]) -> dict:
    """Records per second through the API: stock changes, then customers."""
    from django.core.wsgi import get_wsgi_application

    from integrations.products import ProductChange, products_upsert

    app = get_wsgi_application()
    terminal, token = fleet["upload_terminal"], fleet["upload_token"]
    products_upsert(merchant=terminal.location.merchant, changes=[
        ProductChange(f"INV-{index:03d}", f"Stocked item {index}", Decimal("2.00")) for index in range(SKUS)])
    rates = {}
    for kind, make in (("inventory", lambda index: _inventory(terminal.location.code, index)), ("customer", _customer)):
        elapsed = 0.0
        for batch in range(BATCHES):
            body = json.dumps({"records": [make(batch * BATCH_SIZE + index) for index in range(BATCH_SIZE)]}).encode()
            started = time.perf_counter()
            status = post(app, "/api/pos/v1/uploads", token, body)
            elapsed += time.perf_counter() - started
            assert status.startswith("200"), status
        rates[kind] = BATCHES * BATCH_SIZE / elapsed
    print(f"ingest, batches of {BATCH_SIZE}: {rates['inventory']:.0f} stock changes/s over {SKUS} SKUs (levels "
          f"locked and moved in order, one inventory.changed each); {rates['customer']:.0f} customers/s "
          f"(personal fields encrypted, customer.created each)", flush=True)
    return {"inventory_per_s": f"{rates['inventory']:.0f}", "customers_per_s": f"{rates['customer']:.0f}"}

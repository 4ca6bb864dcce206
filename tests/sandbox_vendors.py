"""Sandbox vendors for the event bus's tests and benchmark: accounting-like integrations on the demo
connector that take every sale, so the bus is exercised the same way whatever each real connector
does with events. They are not in the registry seeds: `sandbox_definitions()` creates their rows,
and a worker that must deliver to them imports this module (`celery worker -I …`)."""

from __future__ import annotations

from events.types import SALE_COMPLETED
from integrations.connectors.demo import DemoConnector
from integrations.connectors.registry import register

SANDBOX_CODES = ("sandbox.accounting_one", "sandbox.accounting_two")
for _code in SANDBOX_CODES:
    register(_code)(type(f"Sandbox_{_code}", (DemoConnector,), {"event_types": frozenset({SALE_COMPLETED.code})}))


def sandbox_definitions() -> None:
    """Their registry rows: a bearer token as the only credential (idempotent)."""
    from integrations.models import IntegrationDefinition

    token = {"type": "object", "properties": {"access_token": {"type": "string", "writeOnly": True, "minLength": 1}},
             "required": ["access_token"]}
    for number, code in enumerate(SANDBOX_CODES, start=1):
        IntegrationDefinition.objects.get_or_create(code=code, defaults={
            "name": f"Sandbox ledger {number}", "category": "accounting", "integration_type": "cloud",
            "status": "available", "credentials_schema": token, "sync_patterns": ["webhook_push"]})

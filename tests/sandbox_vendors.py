"""Sandbox vendors of the tests and benchmarks, on the demo connector, so what they exercise runs over
real HTTP whatever each real connector does. They are not in the registry seeds:
`sandbox_definitions()` creates their rows, and a worker that must deliver to them imports this
module (`celery worker -I …`).

- Two accounting-like ledgers that take every sale: the event bus's subscribers.
- A pharmacy relay run by the terminals of each location (what Rx30 will be, planned until its
  connector lands): the per-location, vertical and terminal-configuration paths."""

from __future__ import annotations

from events.types import SALE_COMPLETED
from integrations.connectors.demo import DemoConnector
from integrations.connectors.registry import register

SANDBOX_CODES = ("sandbox.accounting_one", "sandbox.accounting_two")
for _code in SANDBOX_CODES:
    register(_code)(type(f"Sandbox_{_code}", (DemoConnector,), {"event_types": frozenset({SALE_COMPLETED.code})}))

PHARMACY_RELAY_CODE = "sandbox.pharmacy_relay"
# POS-level: the terminals run it, so the hub only tests its connection.
register(PHARMACY_RELAY_CODE)(type("Sandbox_pharmacy_relay", (DemoConnector,),
                                   {"capabilities": frozenset({"test_connection"})}))

RELAY_CONFIGURATION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "server_host": {"title": "Pharmacy server host", "type": "string", "minLength": 1},
        "server_port": {"title": "Port", "type": "integer", "minimum": 1, "maximum": 65535, "default": 5000},
        "mode": {"title": "Mode", "type": "string", "enum": ["socket", "file"], "default": "socket"},
    },
    "required": ["server_host", "server_port", "mode"],
}


def _secret(name: str) -> dict:
    return {"type": "object", "properties": {name: {"type": "string", "writeOnly": True, "minLength": 1}},
            "required": [name]}


def sandbox_definitions() -> None:
    """Their registry rows (idempotent; the registry's modules are loaded first)."""
    from integrations.models import IntegrationDefinition
    from merchants.models import Module

    for number, code in enumerate(SANDBOX_CODES, start=1):
        IntegrationDefinition.objects.get_or_create(code=code, defaults={
            "name": f"Sandbox ledger {number}", "category": "accounting", "integration_type": "cloud",
            "status": "available", "credentials_schema": _secret("access_token"), "sync_patterns": ["webhook_push"]})
    IntegrationDefinition.objects.get_or_create(code=PHARMACY_RELAY_CODE, defaults={
        "name": "Sandbox pharmacy relay", "category": "pharmacy", "integration_type": "pos", "scope": "vertical",
        "vertical_affinity": "pharmacy", "required_module": Module.objects.get(code="pharmacy.rx"),
        "per_location": True, "status": "available", "configuration_schema": RELAY_CONFIGURATION_SCHEMA,
        "credentials_schema": _secret("password"), "sync_patterns": ["pos_level"]})

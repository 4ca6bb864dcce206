"""Customers created or updated at a register (`customer` records, `devices/records.py`), with
`customer.created` / `customer.updated` for a CRM.

A customer is the POS's: its client UUID is the customer's own id, the same in every update, and
its code stays with it. An update applies only if the POS changed the customer after the version
stored (`updated_at`), so a repeat, or an older version arriving late, changes nothing. The
personal fields (name, email, phone) are encrypted at rest (ADR 0034).
"""

from __future__ import annotations

from django.db import connection
from django.utils.translation import gettext as _

from devices.batches import Batch, Refusals, Written
from events.publish import NewEvent
from events.types import CUSTOMER_CREATED, CUSTOMER_UPDATED
from merchants.store.models import Customer
from qiiub.rows import insert_many

_CUSTOMER = ("client_uuid", "location_code", "terminal_id", "customer_code", "contact", "marketing_consent",
             "created_at", "updated_at")
_CONTACT = Customer._meta.get_field("contact")


def _contact(customer: dict) -> dict:
    return {"name": customer["name"], "email": customer["email"], "phone": customer["phone"]}


def _code_taken(code: str) -> dict[str, list[str]]:
    return {"customer_code": [_("The customer code %(code)s belongs to another customer.") % {"code": code}]}


def _payload(batch: Batch, customer: dict) -> dict:
    """What a CRM needs of a customer, and nothing else of the register's."""
    return {"customer_id": customer["client_uuid"], "customer_code": customer["customer_code"], **_contact(customer),
            "marketing_consent": customer["marketing_consent"], "created_at": customer["created_at"].isoformat(),
            "updated_at": customer["updated_at"].isoformat(), "location": batch.location.code}


def _stored(customers: list[dict]) -> tuple[dict[str, tuple[str, object]], dict[str, str]]:
    """The stored customers these records name, by client UUID ({uuid: (code, updated_at)}) and by
    code ({code: uuid})."""
    rows = Customer.objects.filter(client_uuid__in=[customer["client_uuid"] for customer in customers]) | \
        Customer.objects.filter(customer_code__in=[customer["customer_code"] for customer in customers])
    by_uuid = {str(uuid): (code, updated_at)
               for uuid, code, updated_at in rows.values_list("client_uuid", "customer_code", "updated_at")}
    return by_uuid, {code: uuid for uuid, (code, _at) in by_uuid.items()}


def customers_store(batch: Batch, customers: list[dict]) -> Written:
    """The `customer` writer: create the new customers, update those the POS changed since, refuse
    a code that is another customer's."""
    by_uuid, by_code = _stored(customers)
    refused: Refusals = {}
    new, changed = [], []
    for customer in customers:
        uuid, code = customer["client_uuid"], customer["customer_code"]
        if uuid in by_uuid:
            if by_uuid[uuid][0] != code:
                refused[uuid] = {"customer_code": [_("A customer's code does not change: this customer's is %(code)s.")
                                                   % {"code": by_uuid[uuid][0]}]}
            elif customer["updated_at"] > by_uuid[uuid][1]:
                changed.append(customer)
        elif by_code.setdefault(code, uuid) != uuid:
            refused[uuid] = _code_taken(code)
        else:
            new.append(customer)
    created = _inserted(batch, new)
    for customer in new:
        if customer["client_uuid"] not in created and customer["client_uuid"] not in _stored([customer])[0]:
            refused[customer["client_uuid"]] = _code_taken(customer["customer_code"])  # taken by an upload just now
    updated = _updated(changed)
    events = [NewEvent(CUSTOMER_CREATED.code, _payload(batch, customer), batch.merchant, batch.location)
              for customer in new if customer["client_uuid"] in created]
    events += [NewEvent(CUSTOMER_UPDATED.code, _payload(batch, customer), batch.merchant, batch.location)
               for customer in changed if customer["client_uuid"] in updated]
    return Written(created | updated, events, refused)


def _inserted(batch: Batch, customers: list[dict]) -> set[str]:
    # ON CONFLICT with no target: a code or UUID another upload took meanwhile skips the row, no error.
    rows = [(customer["client_uuid"], batch.location.code, batch.terminal_id, customer["customer_code"],
             _CONTACT.get_prep_value(_contact(customer)), customer["marketing_consent"], customer["created_at"],
             customer["updated_at"]) for customer in customers]
    if not rows:
        return set()
    return {str(uuid) for uuid, in insert_many(Customer, _CUSTOMER, rows, suffix="ON CONFLICT DO NOTHING RETURNING client_uuid")}


def _updated(customers: list[dict]) -> set[str]:
    """Apply the changes the POS made after the stored version (checked again in the statement:
    another upload may have stored a later one meanwhile)."""
    if not customers:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Customer._meta.db_table} AS customer
            SET contact = changed.contact, marketing_consent = changed.marketing_consent, updated_at = changed.updated_at
            FROM unnest(%s::uuid[], %s::text[], %s::boolean[], %s::timestamptz[])
              AS changed(client_uuid, contact, marketing_consent, updated_at)
            WHERE customer.client_uuid = changed.client_uuid AND customer.updated_at < changed.updated_at
            RETURNING customer.client_uuid
            """,
            [[customer["client_uuid"] for customer in customers],
             [_CONTACT.get_prep_value(_contact(customer)) for customer in customers],
             [customer["marketing_consent"] for customer in customers],
             [customer["updated_at"] for customer in customers]],
        )
        return {str(uuid) for uuid, in cursor.fetchall()}

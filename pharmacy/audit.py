"""The PHI access log (HIPAA audit controls, 45 CFR 164.312(b)): every read and write of patient
data, by whom (a user, a terminal, a relay, the hub itself), where, what, when and from where.
Rows are written in the merchant's schema and never changed; the database refuses updates, and
deletes younger than six years (pharmacy.store migration 0002)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django_tenants.utils import schema_context

from merchants.models import Merchant
from pharmacy.store.models import ActorKind, PhiAccess


@dataclass(frozen=True)
class Actor:
    kind: str
    id: int | None
    label: str
    source: str = ""

    @classmethod
    def user(cls, user, source: str = "") -> Actor:
        return cls(ActorKind.USER, user.pk, user.get_username(), source)

    @classmethod
    def terminal(cls, terminal, source: str = "") -> Actor:
        return cls(ActorKind.TERMINAL, terminal.pk, terminal.name, source)

    @classmethod
    def relay(cls, relay, source: str = "") -> Actor:
        return cls(ActorKind.RELAY, relay.pk, relay.name, source)


HUB = Actor(ActorKind.SYSTEM, None, "QIIUB hub", "beat")


def request_source(request) -> str:
    return request.META.get("REMOTE_ADDR", "")[:60]


def phi_accessed(*, actor: Actor, action: str, resource: str, location_code: str = "",
                 record_ids: Iterable[int] = (), count: int | None = None, merchant: Merchant | None = None) -> None:
    """Record one access. Called in the merchant's schema, or with `merchant` to enter it; in the
    caller's transaction, so an access that is rolled back leaves no row and one that stands
    always has its row."""
    ids = list(record_ids)
    row = PhiAccess(actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label[:200], source=actor.source,
                    location_code=location_code, action=action, resource=resource, record_ids=ids[:500],
                    count=len(ids) if count is None else count)
    if merchant is None:
        row.save()
        return
    with schema_context(merchant.schema_name):
        row.save()

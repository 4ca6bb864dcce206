"""What the pharmacy's portal pages read. Relay health is in the public schema (a partner's stores
in one query, no schema entered); patient data is in the merchant's schema, and every read of it
writes its PHI access row in the same transaction, so a page shown always has its row."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.models import Terminal
from integrations.models import MerchantIntegration
from merchants.models import Location, Merchant
from partners.models import Partner
from pharmacy.audit import Actor, phi_accessed
from pharmacy.models import PharmacyStation, Relay
from pharmacy.pickups import signature_image
from pharmacy.relays import PHARMACY_SYSTEMS, SERVED_STATUSES, takeover_after
from pharmacy.store.models import (
    MessageOutcome,
    OutboxMessage,
    PhiAccess,
    PhiAction,
    Pickup,
    Prescription,
    PrescriptionStatus,
)

ACCESS_LOG_PAGE = 50
REFUSED_SHOWN = 50


class RelayState:
    """What a location's relay is doing, worst first (a partner's list sorts by it)."""

    SILENT = "silent"  # the active relay missed its heartbeats for longer than the takeover time
    UNREACHABLE = "unreachable"  # it runs, and cannot reach the pharmacy system
    NONE = "none"  # no relay enrolled
    WAITING = "waiting"  # enrolled, none has reported yet
    NO_SYSTEM = "no_system"  # it runs, and the location has no pharmacy system set up for it
    UNTRIED = "untried"  # it runs, and has not reported trying the pharmacy system yet
    RUNNING = "running"
    ORDER = (SILENT, UNREACHABLE, NONE, WAITING, NO_SYSTEM, UNTRIED, RUNNING)


@dataclass(frozen=True)
class RelayHealth:
    location: Location
    active: Relay | None
    standby: list[Relay]
    state: str
    silent_for: timedelta | None

    @property
    def silent_minutes(self) -> int:
        return int(self.silent_for.total_seconds() // 60) if self.silent_for else 0

    @property
    def rank(self) -> int:
        return RelayState.ORDER.index(self.state)


def _health(location: Location, station: PharmacyStation | None, relays: list[Relay], now: datetime,
            has_system: bool) -> RelayHealth:
    active = station.active_relay if station is not None else None
    if active is not None and active.revoked_at is not None:
        active = None
    standby = [relay for relay in relays if active is None or relay.pk != active.pk]
    silent_for = now - active.last_heartbeat_at if active is not None and active.last_heartbeat_at else None
    if active is None:
        state = RelayState.WAITING if standby else RelayState.NONE
    elif silent_for is None or silent_for > takeover_after():
        state = RelayState.SILENT
    elif active.pharmacy_reachable is False:
        state = RelayState.UNREACHABLE
    elif active.pharmacy_reachable:
        state = RelayState.RUNNING
    else:
        state = RelayState.UNTRIED if has_system else RelayState.NO_SYSTEM
    return RelayHealth(location, active, standby, state, silent_for)


def _station(location: Location) -> PharmacyStation | None:
    try:
        return location.pharmacy_station
    except PharmacyStation.DoesNotExist:
        return None


def _healths(locations: list[Location]) -> list[RelayHealth]:
    """Locations fetched with `pharmacy_station__active_relay`; their enrolled relays in one query."""
    relays: dict[int, list[Relay]] = defaultdict(list)
    for relay in Relay.objects.filter(location__in=locations, revoked_at__isnull=True).order_by("enrolled_at", "pk"):
        relays[relay.location_id].append(relay)
    with_system = set(MerchantIntegration.objects.filter(
        location__in=locations, definition__code__in=PHARMACY_SYSTEMS, status__in=SERVED_STATUSES,
    ).values_list("location_id", flat=True))
    now = timezone.now()
    return [_health(location, _station(location), relays[location.pk], now, location.pk in with_system)
            for location in locations]


def relay_health(location: Location) -> RelayHealth:
    return _healths([Location.objects.select_related("pharmacy_station__active_relay").get(pk=location.pk)])[0]


@dataclass(frozen=True)
class LocationSummary:
    health: RelayHealth
    ready: int
    to_reset: int
    refused: int


def merchant_pharmacy_locations(merchant: Merchant) -> list[LocationSummary]:
    """Every location of the merchant with its relay health and its counts (no patient data)."""
    locations = list(merchant.locations.select_related("pharmacy_station__active_relay").order_by("name"))
    with schema_context(merchant.schema_name):
        ready = dict(Prescription.objects.filter(status=PrescriptionStatus.READY).values("location_code")
                     .annotate(n=Count("pk")).values_list("location_code", "n"))
        to_reset = dict(Prescription.objects.filter(status=PrescriptionStatus.RETURNED, needs_manual_reset=True)
                        .values("location_code").annotate(n=Count("pk")).values_list("location_code", "n"))
        refused = dict(OutboxMessage.objects.filter(outcome=MessageOutcome.REFUSED).values("location_code")
                       .annotate(n=Count("pk")).values_list("location_code", "n"))
    return [LocationSummary(health, ready.get(health.location.code, 0), to_reset.get(health.location.code, 0),
                            refused.get(health.location.code, 0)) for health in _healths(locations)]


def partner_relay_health(partner: Partner) -> list[RelayHealth]:
    """Every pharmacy location of the partner's merchants (a station, or a pharmacy-system
    integration for it or merchant-wide), worst first: public tables only, no schema entered."""
    integrations = MerchantIntegration.objects.filter(
        Q(location=OuterRef("pk")) | Q(location__isnull=True, merchant=OuterRef("merchant")),
        definition__code__in=PHARMACY_SYSTEMS, status__in=SERVED_STATUSES)
    locations = list(
        Location.objects.filter(merchant__partner=partner)
        .filter(Q(pharmacy_station__isnull=False) | Exists(integrations))
        .select_related("merchant", "pharmacy_station__active_relay").order_by("merchant__name", "name"))
    return sorted(_healths(locations), key=lambda health: health.rank)


@dataclass(frozen=True)
class Flag:
    type: str
    required: bool
    message: str


@dataclass(frozen=True)
class WaitingFill:
    pk: int
    rx_number: str
    fill_number: int
    patient_name: str
    amount_due: Decimal
    taxable: bool
    flags: list[Flag]
    ready_at: datetime | None


@dataclass(frozen=True)
class FillToReset:
    pk: int
    rx_number: str
    fill_number: int
    patient_name: str
    returned_at: datetime | None


@dataclass(frozen=True)
class RefusedMessage:
    number: int
    kind: str
    created_at: datetime
    finished_at: datetime | None
    error_code: str


@dataclass(frozen=True)
class LocationPharmacy:
    waiting: list[WaitingFill]
    to_reset: list[FillToReset]
    refused: list[RefusedMessage]
    refused_total: int
    pending_messages: int


def _waiting_fill(prescription: Prescription) -> WaitingFill:
    phi = prescription.phi
    messages = phi.get("flag_messages", [])
    flags = [Flag(flag["type"], flag["required"], messages[index] if index < len(messages) else "")
             for index, flag in enumerate(prescription.flags)]
    return WaitingFill(prescription.pk, phi["rx_number"], phi["fill_number"], phi["patient_name"],
                       prescription.amount_due, prescription.taxable, flags, prescription.ready_at)


def location_pharmacy(location: Location, *, actor: Actor) -> LocationPharmacy:
    """A location's waiting fills, the returned fills staff must reset by hand, and the outbox's
    refusals and backlog (kind, number and time only: message bodies are not read). The ready
    list is an audited read every time; the fills to reset, when there are any."""
    code = location.code
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        waiting = [_waiting_fill(prescription) for prescription in Prescription.objects.filter(
            location_code=code, status=PrescriptionStatus.READY).order_by("ready_at", "pk")]
        to_reset = [FillToReset(prescription.pk, prescription.phi["rx_number"], prescription.phi["fill_number"],
                                prescription.phi["patient_name"], prescription.closed_at)
                    for prescription in Prescription.objects.filter(
                        location_code=code, status=PrescriptionStatus.RETURNED, needs_manual_reset=True)
                    .order_by("closed_at", "pk")]
        refused_rows = OutboxMessage.objects.filter(location_code=code, outcome=MessageOutcome.REFUSED)
        refused = [RefusedMessage(**row) for row in refused_rows.order_by("-number").values(
            "number", "kind", "created_at", "finished_at", "error_code")[:REFUSED_SHOWN]]
        refused_total = refused_rows.count() if len(refused) == REFUSED_SHOWN else len(refused)
        pending = OutboxMessage.objects.filter(location_code=code, outcome=MessageOutcome.PENDING).count()
        phi_accessed(actor=actor, action=PhiAction.READ, resource="ready_list", location_code=code,
                     record_ids=[fill.pk for fill in waiting])
        if to_reset:
            phi_accessed(actor=actor, action=PhiAction.READ, resource="prescription", location_code=code,
                         record_ids=[fill.pk for fill in to_reset])
    return LocationPharmacy(waiting, to_reset, refused, refused_total, pending)


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """The day from its midnight to the next, in the merchant's zone (23 or 25 hours across DST)."""
    zone = ZoneInfo(time_zone)
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


@dataclass(frozen=True)
class PickupRow:
    pk: int
    picked_up_at: datetime
    rx_number: str
    fill_number: int
    picked_up_by: str
    relation: str
    flag_results: list[dict]
    has_signature: bool
    amount_paid: Decimal
    register: str
    signature: tuple[str, bytes] | None = None


def pickup_log(location: Location, day: date, *, actor: Actor, action: str = PhiAction.READ,
               with_signatures: bool = False) -> list[PickupRow]:
    """The location's pickups of `day` (the merchant's time zone), in order: an audited read or
    export of the log, and of the signatures too when they are read with it."""
    start, end = day_bounds(day, location.merchant.time_zone)
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        pickups = Pickup.objects.filter(location_code=location.code, picked_up_at__gte=start, picked_up_at__lt=end)
        pickups = list((pickups if with_signatures else pickups.defer("signature")).order_by("picked_up_at", "pk"))
        phi_accessed(actor=actor, action=action, resource="pickup_log", location_code=location.code,
                     record_ids=[pickup.pk for pickup in pickups])
        signed = [pickup.pk for pickup in pickups if pickup.signature_bytes]
        if with_signatures and signed:
            phi_accessed(actor=actor, action=action, resource="signature", location_code=location.code,
                         record_ids=signed)
    registers = dict(Terminal.objects.filter(pk__in={pickup.terminal_id for pickup in pickups})
                     .values_list("pk", "name"))
    return [PickupRow(pickup.pk, pickup.picked_up_at, pickup.phi["rx_number"], pickup.phi["fill_number"],
                      pickup.phi["picked_up_by"], pickup.relation, pickup.flag_results, bool(pickup.signature_bytes),
                      pickup.amount_paid, registers.get(pickup.terminal_id, ""),
                      signature_image(pickup) if with_signatures else None)
            for pickup in pickups]


def pickup_signature(location: Location, pickup_id: int, *, actor: Actor) -> tuple[str, bytes] | None:
    """(content type, bytes) of one pickup's signature at the location, an audited read; None if
    it has none (or is not the location's)."""
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        pickup = Pickup.objects.filter(pk=pickup_id, location_code=location.code).first()
        image = signature_image(pickup) if pickup is not None else None
        if image is not None:
            phi_accessed(actor=actor, action=PhiAction.READ, resource="signature", location_code=location.code,
                         record_ids=[pickup.pk])
    return image


@dataclass(frozen=True)
class AccessLogPage:
    rows: list[PhiAccess]
    page: int
    more: bool


def access_log_page(merchant: Merchant, *, day: date | None = None, location_code: str = "",
                    page: int = 1) -> AccessLogPage:
    """The merchant's PHI access log, newest first, a page at a time (no count: the log is long)."""
    with schema_context(merchant.schema_name):
        accesses = PhiAccess.objects.order_by("-at", "-id")
        if day is not None:
            start, end = day_bounds(day, merchant.time_zone)
            accesses = accesses.filter(at__gte=start, at__lt=end)
        if location_code:
            accesses = accesses.filter(location_code=location_code)
        window = list(accesses[(page - 1) * ACCESS_LOG_PAGE: page * ACCESS_LOG_PAGE + 1])
    return AccessLogPage(window[:ACCESS_LOG_PAGE], page, len(window) > ACCESS_LOG_PAGE)

"""Store relays: enrollment, tokens, the one-active-relay lease, health, and what a relay reads.

A relay enrolls like a terminal, with a one-time code of the `relay` purpose, and sends its X25519
public key: its pharmacy-system credentials are sealed to that key (`qiiub_relay.sealing.seal`),
so they never cross in a plain answer and only the relay can open them. The heartbeat takes and
renews the location's lease (`PharmacyStation`); another relay is refused until the active one has
missed its heartbeat for PHARMACY_RELAY_TAKEOVER_AFTER_S, then the next heartbeat takes over.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from devices.models import EnrollmentPurpose
from devices.records import NO_NUL, TIMESTAMP
from devices.terminals import enrollment_code_use, secret_hash, token_holder
from integrations.models import MerchantIntegration, Status
from merchants.models import Location
from pharmacy.models import PharmacyStation, Relay
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from qiiub.schemas import schema_errors_from
from qiiub.vault import read_secret
from qiiub_relay.sealing import seal

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "qrt_"  # a relay's token; recognisable in a secret scanner, apart from terminals' qtt_
# Which pharmacy system each integration definition reaches, as the relay's adapters name them.
PHARMACY_SYSTEMS = {"pharmacy.rx30": "rx30", "pharmacy.pioneerrx": "pioneerrx"}
# The pharmacy integrations a relay serves: configuring too, so its connection test can pass.
SERVED_STATUSES = (Status.CONFIGURING, Status.ACTIVE, Status.PAUSED, Status.ERROR)

ENROLL_REQUEST = {
    "type": "object", "required": ["code", "name", "public_key"], "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "minLength": 1, "maxLength": 40,
                 "description": "The one-time relay code from the portal (the location's Pharmacy page)."},
        "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[^\x00]*[^\x00\s][^\x00]*$",
                 "description": 'What the portal calls the relay, e.g. "Back office PC".'},
        "public_key": {"type": "string", "pattern": "^[A-Za-z0-9+/]{43}=$",
                       "description": "The relay's X25519 public key, 32 bytes in base64."},
        "app_version": {"type": "string", "maxLength": 40, "pattern": NO_NUL},
    },
}
HEARTBEAT_REQUEST = {
    "type": "object", "required": ["queue_depth", "pharmacy_reachable"], "additionalProperties": False,
    "properties": {
        "queue_depth": {"type": "integer", "minimum": 0, "maximum": 100_000_000},
        "pharmacy_reachable": {"type": ["boolean", "null"]},
        "last_error": {"type": ["object", "null"], "additionalProperties": False, "required": ["code", "at"],
                       "properties": {"code": {"type": "string", "pattern": "^[a-z0-9_.:-]{1,60}$"},
                                      "at": TIMESTAMP}},
        "app_version": {"type": "string", "maxLength": 40, "pattern": NO_NUL},
        "config_version": {"type": "string", "maxLength": 40, "pattern": "^[A-Za-z0-9-]*$",
                           "description": "The `version` of the relay config it runs with."},
    },
}


class RelayNotActive(ApplicationError):
    code = "relay_not_active"
    http_status = 409


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    return Draft202012Validator({"enroll": ENROLL_REQUEST, "heartbeat": HEARTBEAT_REQUEST}[schema_name])


def request_checked(schema_name: str, body: Any, what: str) -> dict:
    """The body if it is a valid `schema_name` request; ValidationFailed with the fields otherwise.
    The card guard runs first, so no message ever quotes card data back."""
    ensure_no_card_data(body)
    if errors := schema_errors_from(_validator(schema_name), body, unknown_field=_("Not a field of this request.")):
        raise ValidationFailed(f"The {what} is not valid.", field_errors=errors)
    if schema_name == "heartbeat" and body.get("last_error"):
        try:
            body["last_error"]["at"] = datetime.fromisoformat(body["last_error"]["at"].replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(f"The {what} is not valid.",
                                   field_errors={"last_error.at": [_("Not a date and time.")]}) from None
    return body


def relay_enroll(*, code: str, name: str, public_key: str, app_version: str = "") -> tuple[Relay, str]:
    """Trade a relay enrollment code for a new relay and its token (returned once)."""
    try:
        if len(base64.b64decode(public_key, validate=True)) != 32:
            raise ValueError
    except (binascii.Error, ValueError):
        raise ValidationFailed("The relay's public key is not valid.",
                               field_errors={"public_key": ["An X25519 public key: 32 bytes in base64."]}) from None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        enrollment = enrollment_code_use(code, purpose=EnrollmentPurpose.RELAY)
        relay = Relay.objects.create(location=enrollment.location, name=name.strip(), public_key=public_key,
                                     app_version=app_version.strip(), token_hash=secret_hash(token),
                                     enrolled_with=enrollment)
        PharmacyStation.objects.get_or_create(location=enrollment.location)
    logger.info("relay.enrolled", extra={"relay_id": relay.pk, "location_id": relay.location_id})
    return relay, token


def relay_for_token(token: str) -> Relay | None:
    """The enrolled, not revoked relay holding `token`, with its location and merchant (one query)."""
    return token_holder(Relay, token, TOKEN_PREFIX)


def takeover_after() -> timedelta:
    return timedelta(seconds=settings.PHARMACY_RELAY_TAKEOVER_AFTER_S)


@dataclass(frozen=True)
class Lease:
    relay_id: int
    expires_at: datetime


def _not_active(holder: Relay, now: datetime) -> RelayNotActive:
    silent_s = int((now - holder.last_heartbeat_at).total_seconds()) if holder.last_heartbeat_at else 0
    return RelayNotActive(
        _("Another relay is active at this location: “%(name)s” (enrolled %(enrolled)s, last heartbeat %(silent)s s "
          "ago). This relay stands by, and takes over if that one misses its heartbeat for %(takeover)s s.")
        % {"name": holder.name, "enrolled": holder.enrolled_at.date().isoformat(), "silent": silent_s,
           "takeover": settings.PHARMACY_RELAY_TAKEOVER_AFTER_S})


def _holder_alive(station: PharmacyStation, relay: Relay, now: datetime) -> Relay | None:
    """The other relay holding the lease, if its lease still stands."""
    if station.active_relay_id in (None, relay.pk):
        return None
    holder = station.active_relay
    if holder is None or holder.revoked_at is not None or station.lease_renewed_at <= now - takeover_after():
        return None
    return holder


def relay_heartbeat(*, relay: Relay, report: dict, source: str = "") -> Lease:
    """Record the relay's health and take or renew the lease; RelayNotActive (409, naming the
    active relay) while another one holds it. The health of a standing-by relay is kept too."""
    now = timezone.now()
    last_error = report.get("last_error") or {}
    health = {"last_heartbeat_at": now, "last_heartbeat_from": source or None, "queue_depth": report["queue_depth"],
              "pharmacy_reachable": report["pharmacy_reachable"], "last_error_code": last_error.get("code", ""),
              "last_error_at": last_error.get("at") or None}
    for optional in ("app_version", "config_version"):
        if report.get(optional):
            health[optional] = report[optional]
    with transaction.atomic():
        Relay.objects.filter(pk=relay.pk).update(**health)
        station, _created = PharmacyStation.objects.get_or_create(location_id=relay.location_id)
        station = PharmacyStation.objects.select_for_update(of=("self",)).select_related("active_relay").get(
            pk=station.pk)
        if holder := _holder_alive(station, relay, now):
            raise _not_active(holder, now)
        if station.active_relay_id != relay.pk:
            logger.info("relay.lease_taken", extra={"relay_id": relay.pk, "from_relay_id": station.active_relay_id,
                                                    "location_id": relay.location_id})
        PharmacyStation.objects.filter(pk=station.pk).update(active_relay=relay, lease_renewed_at=now)
    return Lease(relay.pk, now + takeover_after())


def relay_ensure_active(relay: Relay) -> None:
    """RelayNotActive unless `relay` holds its location's lease: only the active relay pushes
    prescriptions and takes the outbox."""
    station = PharmacyStation.objects.select_related("active_relay").filter(location_id=relay.location_id).first()
    if station is not None and station.active_relay_id == relay.pk:
        return
    if station is not None and (holder := _holder_alive(station, relay, timezone.now())):
        raise _not_active(holder, timezone.now())
    raise RelayNotActive(_("This relay does not hold the location's lease yet: send a heartbeat first."))


def pharmacy_integration(location: Location) -> MerchantIntegration | None:
    """The location's pharmacy-system integration a relay serves, if any."""
    return (MerchantIntegration.objects.select_related("definition")
            .filter(merchant_id=location.merchant_id, location=location, definition__code__in=PHARMACY_SYSTEMS,
                    status__in=SERVED_STATUSES)
            .order_by("-updated_at").first())


def _served_row(location: Location) -> dict | None:
    """What a relay's config is made of, in one narrow query (a relay asks every heartbeat)."""
    return (MerchantIntegration.objects
            .filter(merchant_id=location.merchant_id, location=location, definition__code__in=PHARMACY_SYSTEMS,
                    status__in=SERVED_STATUSES)
            .order_by("-updated_at")
            .values("definition__code", "configuration", "credentials_vault_key", "status").first())


def _config(relay: Relay, row: dict | None, *, sealed: bool) -> dict:
    pharmacy = None
    if row is not None:
        vault_key = row["credentials_vault_key"]
        credentials = read_secret(vault_key) if sealed and vault_key else None
        pharmacy = {
            "system": PHARMACY_SYSTEMS[row["definition__code"]], "integration": row["definition__code"],
            "configuration": row["configuration"],
            "credentials_sealed": seal(relay.public_key, credentials) if credentials else None,
            "paused": row["status"] == Status.PAUSED,
        }
    return {
        "relay": {"id": relay.pk, "name": relay.name},
        "location": {"code": relay.location.code, "name": relay.location.name},
        "pharmacy": pharmacy,
        "timing": {"heartbeat_every_s": settings.PHARMACY_RELAY_HEARTBEAT_S,
                   "takeover_after_s": settings.PHARMACY_RELAY_TAKEOVER_AFTER_S,
                   "poll_every_s": settings.PHARMACY_RELAY_POLL_S},
    }


def _version(relay: Relay, row: dict | None) -> str:
    # Of what the config says and which credentials it seals (their vault key changes with them),
    # not of the ciphertext: sealing is fresh each time.
    basis = json.dumps([_config(relay, row, sealed=False), row and row["credentials_vault_key"]], sort_keys=True,
                       default=str)
    return "relay1-" + hashlib.sha256(basis.encode()).hexdigest()[:24]


def relay_config(relay: Relay) -> dict:
    """What a relay reads: its version, its pharmacy system (configuration, and credentials sealed
    to its key) and its timing. No secret is in it in clear."""
    row = _served_row(relay.location)
    return {"version": _version(relay, row), **_config(relay, row, sealed=True)}


def relay_config_version(relay: Relay) -> str:
    """The version of what `relay_config` says: its ETag, and what a relay reports running, which
    the connection test compares."""
    return _version(relay, _served_row(relay.location))


def relay_revoke(*, relay: Relay, by=None) -> Relay:
    """The token stops working at once, and the lease is free for another relay."""
    with transaction.atomic():
        if relay.revoked_at is None:
            relay.revoked_at = timezone.now()
            relay.save(update_fields=["revoked_at"])
        PharmacyStation.objects.filter(active_relay=relay).update(active_relay=None, lease_renewed_at=None)
    logger.info("relay.revoked", extra={"relay_id": relay.pk, "by": getattr(by, "pk", None)})
    return relay

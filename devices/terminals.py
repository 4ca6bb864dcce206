"""Terminal enrollment, tokens and revocation.

A merchant admin creates a one-time enrollment code for a location; the terminal trades it, once,
for its own token. Codes and tokens are stored only as SHA-256 hashes: both are long random values,
so a plain hash is enough, and it lets a token be found with one indexed lookup per request.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from devices.models import EnrollmentCode, EnrollmentPurpose, Terminal
from devices.records import NO_NUL
from merchants.models import Location, Merchant
from qiiub import rows
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ValidationFailed
from qiiub.schemas import schema_errors_from

logger = logging.getLogger(__name__)

ENROLLMENT_CODE_TTL = timedelta(hours=24)  # a day to set up a store's terminals with one code each
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I/L: read aloud and typed at a till
CODE_LENGTH = 12  # 32^12 ≈ 10^18 codes, each valid once for a day
TOKEN_PREFIX = "qtt_"  # recognisable in a secret scanner
# Recording "last seen" on every pull would turn each config check into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)

# The body of `POST /api/pos/v1/enroll`, as the OpenAPI document shows it and as it is checked.
ENROLL_REQUEST = {
    "type": "object", "required": ["code", "name"], "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "minLength": 1, "maxLength": 40,
                 "description": 'The one-time code from the portal, e.g. "K7QM-3XPA-9RTW" (any case; dashes and '
                                "spaces are ignored)."},
        "name": {"type": "string", "minLength": 1, "maxLength": 100,
                 "pattern": r"^[^\x00]*[^\x00\s][^\x00]*$",  # more than spaces, and no NUL (PostgreSQL text)
                 "description": 'What the portal calls the terminal, e.g. "Register 1".'},
        "app_version": {"type": "string", "maxLength": 40, "pattern": NO_NUL},
        "turnstile_token": {"type": "string", "maxLength": 2048,
                            "description": "The token of the Turnstile widget the terminal showed (its "
                                           "`cf-turnstile-response`): required when the hub has Turnstile on."},
    },
}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normalized_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def enrollment_code_create(*, location: Location, by=None,
                           purpose: str = EnrollmentPurpose.TERMINAL) -> tuple[EnrollmentCode, str]:
    """A new one-time code for `location`; the code itself is returned once and never stored."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    enrollment = EnrollmentCode.objects.create(
        location=location, code_hash=secret_hash(raw), purpose=purpose,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        expires_at=timezone.now() + ENROLLMENT_CODE_TTL,
    )
    logger.info("terminal.enrollment_code_created",
                extra={"location_id": location.pk, "code_id": enrollment.pk, "purpose": purpose})
    return enrollment, "-".join(raw[index:index + 4] for index in range(0, CODE_LENGTH, 4))


def enrollment_code_use(code: str, *, purpose: str) -> EnrollmentCode:
    """Mark a valid, unused code of `purpose` used and return it (with its location), inside the
    caller's transaction; ValidationFailed for any other code, one answer for wrong, used and
    expired alike: the answer must not help guessing."""
    enrollment = (
        EnrollmentCode.objects.select_for_update()
        .filter(code_hash=secret_hash(_normalized_code(code or "")), purpose=purpose, used_at__isnull=True,
                expires_at__gt=timezone.now())
        .select_related("location")
        .first()
    )
    if enrollment is None:
        raise ValidationFailed(
            "This enrollment code is not valid: it may be mistyped, already used or expired. "
            "Ask a merchant admin for a new code in the portal.",
            field_errors={"code": ["Not a valid enrollment code."]}, code="invalid_enrollment_code",
        )
    enrollment.used_at = timezone.now()
    enrollment.save(update_fields=["used_at"])
    return enrollment


@cache
def _enroll_request_validator() -> Draft202012Validator:
    return Draft202012Validator(ENROLL_REQUEST)


def enrollment_request_checked(body: Any) -> dict[str, str]:
    """The fields of an enrollment request (code, name, app_version, turnstile_token), or ValidationFailed
    with the fields to fix. The card guard runs first, so no message ever quotes card data back."""
    ensure_no_card_data(body)
    if errors := schema_errors_from(_enroll_request_validator(), body,
                                    unknown_field=_("Not a field of an enrollment request.")):
        raise ValidationFailed("The enrollment request is not valid.", field_errors=errors)
    return dict(body)


def terminal_enroll(*, code: str, name: str, app_version: str = "") -> tuple[Terminal, str]:
    """Trade a valid enrollment code for a new terminal and its token (returned once)."""
    name, app_version = (name or "").strip(), (app_version or "").strip()
    ensure_no_card_data({"name": name, "app_version": app_version})
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = ["Give the terminal a name of 1 to 100 characters (e.g. 'Register 1')."]
    if len(app_version) > 40:
        errors["app_version"] = ["At most 40 characters."]
    if errors:
        raise ValidationFailed("The enrollment request is not valid.", field_errors=errors)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        enrollment = enrollment_code_use(code, purpose=EnrollmentPurpose.TERMINAL)
        terminal = Terminal.objects.create(
            location=enrollment.location, name=name, app_version=app_version, token_hash=secret_hash(token),
            enrolled_with=enrollment, last_seen_at=timezone.now(),
        )
    logger.info("terminal.enrolled", extra={"terminal_id": terminal.pk, "location_id": terminal.location_id})
    return terminal, token


@cache
def _token_sql(model: type) -> str:
    # Hand-written: this runs on every terminal request, and an unchanged config is answered with
    # nothing else (compiling the ORM's three-table query cost more than running it).
    return f"""
        SELECT {rows.columns(model, "holder")}, {rows.columns(Location, "location")},
               {rows.columns(Merchant, "merchant")}
        FROM {model._meta.db_table} holder
        JOIN {Location._meta.db_table} location ON location.id = holder.location_id
        JOIN {Merchant._meta.db_table} merchant ON merchant.id = location.merchant_id
        WHERE holder.token_hash = %s AND holder.revoked_at IS NULL
    """


def token_holder(model: type, token: str, prefix: str):
    """The not revoked holder of `token` among `model`'s rows (a terminal, a store relay: a
    location, a token hash, a revocation time), with its location and merchant, in one query."""
    if not token.startswith(prefix):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(model), [secret_hash(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    holder, location, merchant = rows.instances(row, model, Location, Merchant)
    location.merchant, holder.location = merchant, location
    return holder


def terminal_for_token(token: str) -> Terminal | None:
    """The active terminal holding `token`, with its location and merchant (one query)."""
    return token_holder(Terminal, token, TOKEN_PREFIX)


def terminal_seen(*, terminal: Terminal, app_version: str = "") -> None:
    """Record that the terminal called in: at most one write per LAST_SEEN_RESOLUTION, or when its
    app version changed."""
    # The version comes in a header of every call and is stored: it passes the guard like a body.
    ensure_no_card_data({"X-POS-App-Version": app_version}, "headers")
    now = timezone.now()
    app_version = app_version[:40]
    stale = terminal.last_seen_at is None or now - terminal.last_seen_at >= LAST_SEEN_RESOLUTION
    if not stale and (not app_version or app_version == terminal.app_version):
        return
    changes = {"last_seen_at": now}
    if app_version:
        changes["app_version"] = app_version
    Terminal.objects.filter(pk=terminal.pk).update(**changes)


def terminal_revoke(*, terminal: Terminal, by=None) -> Terminal:
    """The token stops working at once; the terminal must enroll again with a new code."""
    if terminal.revoked_at is None:
        terminal.revoked_at = timezone.now()
        terminal.save(update_fields=["revoked_at"])
        logger.info("terminal.revoked", extra={"terminal_id": terminal.pk, "by": getattr(by, "pk", None)})
    return terminal

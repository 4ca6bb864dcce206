"""Two-factor sign-in: an authenticator app (TOTP, django-otp) and ten single-use recovery codes.

After the password, a user with a confirmed authenticator is asked for its 6-digit code (or a
recovery code) before any page; one who must have two factors (`merchants.access.two_factor_required`)
and has none sets them up first. A session is verified through `django_otp.login`. Wrong codes are
throttled by django-otp (each failure doubles the wait before the device takes another code).
Keys and codes never reach a log.
"""

from __future__ import annotations

import logging
from base64 import b32encode
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants.access import two_factor_required
from qiiub.errors import ApplicationError, NotAllowed

logger = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10  # enough for years of a lost phone, few enough to print on one card
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"


class TwoFactorCodeWrong(ApplicationError):
    code = "two_factor_code_wrong"


class TwoFactorThrottled(ApplicationError):
    code = "two_factor_throttled"
    http_status = 429


def authenticator_for(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def two_factor_step(user) -> str | None:
    """What a signed-in user must do before any page: "verify" (enter a code), "setup" (two factors
    required, none set up), or None (a verified session, or no second factor asked of them)."""
    if not user.is_authenticated or getattr(user, "is_verified", bool)():  # is_verified: set by OTPMiddleware
        return None
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return "verify"
    return "setup" if two_factor_required(user) else None


def authenticator_pending(*, user) -> TOTPDevice:
    """The authenticator being set up (a new random key, not yet confirmed by a first code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def authenticator_key_text(device: TOTPDevice) -> str:
    """The key as an authenticator app takes it typed in: base32, in groups of four."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[index:index + 4] for index in range(0, len(key), 4))


def authenticator_confirm(*, user, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with its first code; returns it with new recovery codes
    (shown once). Any earlier authenticator of the user is replaced."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise NotAllowed(_("Start the setup again: this page had expired."), code="two_factor_setup_expired")
    device = _verified_or_raise(device, _digits(code))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_replace(user=user)
    logger.info("two_factor.enabled", extra={"user_id": user.pk})
    return device, codes


@transaction.atomic
def recovery_codes_replace(*, user) -> list[str]:
    """Ten new single-use recovery codes (returned once, to show); the earlier ones stop working."""
    device, _created = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_CODES_NAME,
                                                          defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    logger.info("two_factor.recovery_codes_replaced", extra={"user_id": user.pk})
    return [f"{code[:4]}-{code[4:]}" for code in codes]


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def two_factor_check(*, user, code: str) -> Device:
    """The device that accepts `code` (the authenticator's 6 digits, or a recovery code, which is
    then used up); TwoFactorCodeWrong or TwoFactorThrottled otherwise."""
    digits = _digits(code)
    if len(digits) == 6:
        device = authenticator_for(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
        digits = code.replace("-", "").replace(" ", "").strip().lower()
    if device is None or not digits:
        raise TwoFactorCodeWrong(_("That code is not right. Enter the 6 digits your authenticator app shows now."))
    device = _verified_or_raise(device, digits)
    logger.info("two_factor.verified", extra={"user_id": user.pk, "with": "recovery_code"
                                              if isinstance(device, StaticDevice) else "authenticator"})
    return device


def two_factor_disable(*, user, code: str) -> None:
    """Turn two-factor sign-in off, after a current code; refused to whom it is required of."""
    if two_factor_required(user):
        raise NotAllowed(_("Two-factor sign-in is required for your account: it cannot be turned off."),
                         code="two_factor_required")
    two_factor_check(user=user, code=code)
    _devices_delete(user)
    logger.info("two_factor.disabled", extra={"user_id": user.pk})


def two_factor_reset(*, user, by) -> None:
    """A SystemAdmin's reset of another user's two-factor sign-in (a lost phone and lost codes): the
    user sets it up again at their next sign-in where it is required."""
    _devices_delete(user)
    logger.warning("two_factor.reset", extra={"user_id": user.pk, "by_user_id": by.pk})


def _devices_delete(user) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def _digits(code: str) -> str:
    return "".join((code or "").split())


def _verified_or_raise(device: Device, code: str) -> Device:
    """The device, after it accepted `code`. Its failure count (the throttle) is committed before
    anything is raised, so a refusal can never roll it back."""
    with transaction.atomic():
        device = type(device).objects.select_for_update().get(pk=device.pk)
        allowed, details = device.verify_is_allowed()
        verified = allowed and device.verify_token(code)
    if not allowed:
        raise TwoFactorThrottled(_throttled_message((details or {}).get("locked_until")))
    if not verified:
        raise TwoFactorCodeWrong(_("That code is not right. Enter the 6 digits your authenticator app shows now, "
                                   "or one of your recovery codes."))
    return device


def _throttled_message(locked_until: datetime | None) -> str:
    seconds = max(1, int(((locked_until or timezone.now()) - timezone.now()).total_seconds()) + 1)
    return ngettext("Too many wrong codes. Wait %(seconds)d second, then try again.",
                    "Too many wrong codes. Wait %(seconds)d seconds, then try again.", seconds) % {"seconds": seconds}

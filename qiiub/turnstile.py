"""Cloudflare Turnstile, the bot check on the portal's sign-in and on terminal enrollment.

On when `TURNSTILE_SITE_KEY` and `TURNSTILE_SECRET_KEY` are both set. The page's widget puts a
one-time token in the form (`cf-turnstile-response`), a terminal sends it as `turnstile_token`;
`turnstile_verify` asks Cloudflare's siteverify whether it is good, here and only here. Anything
but a clear yes refuses (fails closed): a missing token, a token refused, a siteverify that is slow,
down or answers nonsense. The token and the secret never reach a log.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from qiiub.errors import ApplicationError
from qiiub.http import shared_session

logger = logging.getLogger(__name__)

RESPONSE_FIELD = "cf-turnstile-response"  # the hidden input the widget fills
MAX_TOKEN_LENGTH = 2048  # Cloudflare's limit: a longer one is refused without asking


class TurnstileMissing(ApplicationError):
    code = "turnstile_missing"
    http_status = 400


class TurnstileRefused(ApplicationError):
    code = "turnstile_refused"
    http_status = 400


class TurnstileUnavailable(ApplicationError):
    code = "turnstile_unavailable"
    http_status = 503


def turnstile_enabled() -> bool:
    return bool(settings.TURNSTILE_SITE_KEY and settings.TURNSTILE_SECRET_KEY)


def turnstile_widget() -> dict[str, str] | None:
    """What a page needs to show the widget (site key, script URL), or None when Turnstile is off."""
    if not turnstile_enabled():
        return None
    return {"site_key": settings.TURNSTILE_SITE_KEY, "script_url": settings.TURNSTILE_SCRIPT_URL}


def turnstile_verify(token: str | None, *, remote_ip: str, action: str, hostname: str | None = None) -> None:
    """Nothing when Turnstile is off or Cloudflare says this token was solved just now for `action`
    (and on `hostname`, when given); else TurnstileMissing, TurnstileRefused or TurnstileUnavailable."""
    if not turnstile_enabled():
        return
    token = (token or "").strip()
    if not token:
        raise TurnstileMissing(_("Complete the bot check (the box above the button), then try again."))
    if len(token) > MAX_TOKEN_LENGTH:
        _refused(action, ["invalid-input-response"])
    answer = _siteverify(token, remote_ip=remote_ip, action=action)
    if answer.get("success") is not True:
        codes = answer.get("error-codes")
        _refused(action, [str(code)[:40] for code in codes[:5]] if isinstance(codes, list) else [])
    if answer.get("action") != action or (hostname is not None and answer.get("hostname") != hostname):
        _refused(action, ["action-or-hostname-mismatch"])
    logger.info("turnstile.passed", extra={"action": action})


def _siteverify(token: str, *, remote_ip: str, action: str) -> dict[str, Any]:
    form = {"secret": settings.TURNSTILE_SECRET_KEY, "response": token}
    if remote_ip:
        form["remoteip"] = remote_ip
    try:
        response = shared_session().post(settings.TURNSTILE_VERIFY_URL, data=form,
                                         timeout=settings.TURNSTILE_TIMEOUT_S)
        response.raise_for_status()
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError("not a JSON object")
    except (requests.RequestException, ValueError) as error:
        logger.warning("turnstile.unavailable", extra={"action": action, "error": type(error).__name__})
        raise TurnstileUnavailable(
            _("We could not verify the bot check just now. Wait a moment and try again.")) from None
    codes = answer.get("error-codes") if isinstance(answer.get("error-codes"), list) else []
    if "invalid-input-secret" in codes or "missing-input-secret" in codes or "internal-error" in codes:
        # Our side or Cloudflare's, not the person's: as unavailable, and loud for the operator.
        logger.error("turnstile.misconfigured", extra={"action": action, "error_codes": [str(code)[:40] for code in codes[:5]]})
        raise TurnstileUnavailable(_("We could not verify the bot check just now. Wait a moment and try again."))
    return answer


def _refused(action: str, codes: list[str]) -> None:
    logger.info("turnstile.refused", extra={"action": action, "error_codes": codes})
    raise TurnstileRefused(_("The bot check failed or expired. Complete it again, then retry."))

"""The hub's emails, sent from this one place.

An email kind is three templates under `templates/email/`: `<kind>_subject.txt`, `<kind>.txt` (the
plain-text part) and `<kind>.html` (the HTML part, on `email/layout.html`: escaped, no scripts, no
remote images, no styles). They are rendered in the recipient's language and sent as one message
with both parts, through whichever backend the settings chose (console in development, Mandrill
through django-anymail in production). Card numbers are masked in every part, whatever the inputs.

The first attempt is made at once, by the caller. A provider error (a rejection, a 5xx, a timeout)
never breaks the caller's work, which has already committed: the rendered message goes to the
`qiiub.email_resend` task, which tries again on `qiiub.retry.EMAIL_RETRY_SCHEDULE_S` and logs
`email.undelivered` (ERROR, with the provider's code) when it gives up or the error is permanent.
Logs carry the kind, the number of recipients and the code: never addresses or content."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from anymail.exceptions import AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core import checks
from django.core.mail import EmailMultiAlternatives
from django.template import Context, engines
from django.template.loader import render_to_string
from django.utils import translation
from kombu.exceptions import OperationalError

from qiiub.card_guard import mask_card_numbers
from qiiub.retry import EMAIL_RETRY_SCHEDULE_S

logger = logging.getLogger(__name__)

# Mandrill's error names (its `name` field) that no retry cures: the message or account is wrong.
_PERMANENT_PROVIDER_ERRORS = {"ValidationError", "Unknown_Subaccount", "Unknown_Sender"}
# Backends that deliver nothing: fine on a laptop, a silent loss of every alert in production.
_NON_DELIVERING_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


@dataclass(frozen=True)
class RenderedEmail:
    """An email ready to send: what the resend task carries (plain strings, JSON-serialisable)."""

    kind: str
    to: list[str]
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SendFailure:
    code: str  # the provider's error name ("Invalid_Key"), "http_502", "timeout", "connection", …
    permanent: bool


def email_render(*, kind: str, to: Sequence[str], language: str, context: dict) -> RenderedEmail:
    """The three parts of email `kind`, in `language`, with every card number masked."""
    with translation.override(language):
        subject, text = (_render_plain(f"email/{kind}{suffix}.txt", context) for suffix in ("_subject", ""))
        # One line: a subject is a header, and a line break in a header would start another.
        subject = " ".join(subject.split())
        html = render_to_string(f"email/{kind}.html", {**context, "subject": subject, "language": language})
    return RenderedEmail(kind=kind, to=sorted(set(to)), subject=mask_card_numbers(subject),
                         text=mask_card_numbers(text.strip()) + "\n", html=mask_card_numbers(html))


def email_send(*, kind: str, to: Sequence[str], language: str, context: dict) -> bool:
    """Render email `kind` in `language` and send it to `to` now; True when it went. When the
    provider fails, the message is handed to the resend task (a temporary error) or logged as
    undelivered (a permanent one): the caller goes on either way."""
    if not to:
        return False
    return email_deliver(email_render(kind=kind, to=to, language=language, context=context), attempt=1)


def email_deliver(email: RenderedEmail, *, attempt: int) -> bool:
    """One attempt at sending a rendered email; on a temporary failure the next attempt is queued."""
    failure = _send(email)
    if failure is None:
        logger.info("email.sent", extra={"kind": email.kind, "recipients": len(email.to), "attempt": attempt})
        return True
    retry_in = None if failure.permanent or attempt > len(EMAIL_RETRY_SCHEDULE_S) else EMAIL_RETRY_SCHEDULE_S[attempt - 1]
    if retry_in is None:
        logger.error("email.undelivered", extra={"kind": email.kind, "recipients": len(email.to),
                                                 "code": failure.code, "attempts": attempt})
        return False
    logger.warning("email.send_failed", extra={"kind": email.kind, "code": failure.code, "attempt": attempt,
                                               "retry_in_s": retry_in})
    _queue_resend(email, attempt=attempt + 1, countdown=retry_in)
    return False


def url_without_credentials(url: str) -> str:
    """A URL as an email may show it: scheme, host, port and path; no user, password, query or
    fragment, where a receiver's token often rides."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _send(email: RenderedEmail) -> SendFailure | None:
    message = EmailMultiAlternatives(email.subject, email.text, settings.DEFAULT_FROM_EMAIL, email.to)
    message.attach_alternative(email.html, "text/html")
    # Anymail's options (other backends ignore them): the kind for the provider's reports, and no
    # tracking, which would add a remote image and rewrite every link.
    message.tags = [email.kind]
    message.track_opens = False
    message.track_clicks = False
    try:
        message.send()
    except (AnymailError, smtplib.SMTPException, OSError) as error:
        return _failure(error)
    return None


def _failure(error: Exception) -> SendFailure:
    if isinstance(error, AnymailRecipientsRefused):
        return SendFailure("recipients_refused", permanent=True)
    if isinstance(error, requests.Timeout):
        return SendFailure("timeout", permanent=False)
    if isinstance(error, requests.ConnectionError | ConnectionError):
        return SendFailure("connection", permanent=False)
    response = getattr(error, "response", None)
    if response is not None:
        name = _provider_error_name(response)
        return SendFailure(name or f"http_{response.status_code}", permanent=name in _PERMANENT_PROVIDER_ERRORS)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return SendFailure("recipients_refused", permanent=True)
    if isinstance(error, smtplib.SMTPResponseException):
        return SendFailure(f"smtp_{error.smtp_code}", permanent=500 <= error.smtp_code < 600)
    return SendFailure(type(error).__name__, permanent=False)


def _provider_error_name(response) -> str:
    """Mandrill's error name: its errors answer HTTP 500 with {"status": "error", "name": …}."""
    try:
        body = response.json()
    except ValueError:
        return ""
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) and name.replace("_", "").isalnum() else ""


def _queue_resend(email: RenderedEmail, *, attempt: int, countdown: int) -> None:
    from qiiub.tasks import email_resend

    try:
        email_resend.apply_async(args=[asdict(email), attempt], countdown=countdown)
    except OperationalError:
        logger.error("email.undelivered", extra={"kind": email.kind, "recipients": len(email.to),
                                                 "code": "broker_unavailable", "attempts": attempt - 1})


def _render_plain(name: str, context: dict) -> str:
    """A template rendered without HTML escaping: the plain-text part and the subject keep `&`,
    `<` and quotes as written."""
    return engines["django"].engine.get_template(name).render(Context(context, autoescape=False))


@checks.register("email", deploy=True)
def check_email_backend(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --deploy` in production: an email backend that delivers nothing loses every
    alert (auto-pause, review, IVU return, webhook endpoint disabled) without a trace."""
    if settings.QIIUB_ENV != "production" or settings.EMAIL_BACKEND not in _NON_DELIVERING_BACKENDS:
        return []
    return [checks.Warning(
        f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: in production no email is delivered.",
        hint="Set EMAIL_PROVIDER=mandrill with MANDRILL_API_KEY, or EMAIL_BACKEND to a delivering backend.",
        id="qiiub.W043",
    )]

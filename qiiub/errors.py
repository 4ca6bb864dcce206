"""Typed application errors: a code, an HTTP status, and a message a person can act on.

A refusal's message is written in the language active when it is raised (the user's, in the
portal): mark it with `gettext` where it is raised. The code never changes with the language."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _


class ApplicationError(Exception):
    code = "application_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}

    def __str__(self) -> str:
        return self.message


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class ValidationFailed(ApplicationError):
    """Input refused; `field_errors` maps a field path ("sync.frequency") to its messages."""

    code = "validation_failed"
    http_status = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, code: str | None = None):
        super().__init__(message, code=code, extra={"field_errors": field_errors or {}})
        self.field_errors = field_errors or {}


class CardDataRejected(ValidationFailed):
    """A card number or other sensitive authentication data was sent. Never echoes the value."""

    code = "card_data_rejected"
    http_status = 422

    def __init__(self, field_path: str, *, label: str = "", refusal: str = ""):
        """`label` and `refusal`: a form's field, named as its label says at the field, with the form's
        refusal as the message (a page shows each once). Without them the field is named by its path."""
        if label:
            at_field = _("%(label)s looks like card data (a card number, CVV, PIN block or track data). "
                         "QIIUB never stores card data: enter only the last 4 digits.") % {"label": label}
        else:
            at_field = _(
                "Field '%(field)s' looks like card data (a card number, CVV, PIN block or track data). "
                "QIIUB never stores card data: send only the last 4 digits."
            ) % {"field": field_path}
        super().__init__(refusal or at_field, field_errors={field_path: [at_field]})
        self.field_path = field_path


class InvalidTransition(ApplicationError):
    code = "invalid_transition"
    http_status = 409


class NotAllowed(ApplicationError):
    """The operation is refused by a product rule (module missing, planned definition, …)."""

    code = "not_allowed"
    http_status = 409

"""Webhook pages: stored codes put into words in the reader's language."""

from django import template

from webhooks.delivery_errors import attempt_error_text, disabled_reason_text

register = template.Library()


@register.filter
def attempt_error(attempt) -> str:
    """A failed attempt's error (`DeliveryAttempt.error_code` and its parameters)."""
    return attempt_error_text(attempt.error_code, attempt.error_params)


@register.filter
def disabled_reason(code: str) -> str:
    return disabled_reason_text(code)

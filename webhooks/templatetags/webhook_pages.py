"""Webhook pages: why an endpoint is disabled, in the reader's language (an attempt's error is a
stored message: the portal's `message` tag)."""

from django import template

from webhooks.delivery_errors import disabled_reason_text

register = template.Library()


@register.filter
def disabled_reason(code: str) -> str:
    return disabled_reason_text(code)

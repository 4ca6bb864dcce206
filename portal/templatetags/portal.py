from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.timezone import localtime
from django.utils.translation import gettext

from merchants.access import may_see_patient_data
from qiiub.money import as_decimal, money_text

register = template.Library()


@register.filter
def get_item(mapping: dict, key):
    """`counts|get_item:status`: a dict's value by a key held in a variable."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def money(value) -> str:
    """`{{ amount|money }}`: `qiiub.money.money_text`."""
    return money_text(value)


@register.filter
def number(value) -> str:
    """`{{ count|number }}`: a count or quantity grouped as the active language writes it (1,234)."""
    amount = as_decimal(value)
    if amount is None:
        return "" if value is None else str(value)
    return number_format(amount, use_l10n=True, force_grouping=True)


@register.filter
def seed_text(value) -> str:
    """`{{ definition.description|seed_text }}`: a text from the seeds in the reader's language."""
    from qiiub.seed_texts import seed_text as translated

    return translated(value)


@register.filter
def status_label(value: str) -> str:
    """An integration status value ("error") as its translated label ("Error")."""
    from integrations.models import Status

    try:
        return Status(value).label
    except ValueError:
        return str(value).capitalize()


@register.filter
def level_label(value: str) -> str:
    """A settings-cascade level value ("partner") as its translated label ("Partner")."""
    from devices.models import Level

    try:
        return Level(value).label
    except ValueError:
        return str(value).capitalize()


@register.filter
def shows_patient_data_to(merchant, user) -> bool:
    """Whether the merchant's pharmacy pages are for this user (the nav shows them only then)."""
    return may_see_patient_data(user, merchant)


@register.simple_tag
def open_problem_count(merchant) -> int:
    """How many open problems the merchant's Issues inbox lists (the top bar's badge)."""
    return merchant.problems.filter(resolved_at__isnull=True).count()


@register.filter
def since(value) -> str:
    """`{{ when|since }}`: how long ago, in the reader's language ("just now" under a minute, never
    "0 minutes ago"), with the exact time on hover: the one way every page says it."""
    if not value:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        text = gettext("just now")
    else:
        text = gettext("%(since)s ago") % {"since": timesince(value)}
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(),
                       date_format(localtime(value), "SHORT_DATETIME_FORMAT"), text)


@register.filter
def problem_kind_label(value: str) -> str:
    """A problem kind ("credentials") as its translated label ("Connection refused")."""
    from integrations.models import ProblemKind

    return ProblemKind(value).label if value in ProblemKind.values else value


@register.simple_tag
def message(code: str, params: dict | None = None) -> str:
    """`{% message code params %}`: a stored message (`qiiub.messages`) in the reader's language."""
    from qiiub.messages import message_text

    return message_text(code or "", params or {})

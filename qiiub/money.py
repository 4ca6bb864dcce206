"""Amounts as a reader sees them, on pages and in messages alike."""

from decimal import Decimal, InvalidOperation

from django.utils.formats import number_format

# Every merchant's books are in US dollars (Puerto Rico and the US): the symbol does not change with
# the language, only the separators do (and for Puerto Rico's Spanish they are the US ones).
CURRENCY_SYMBOL = "$"


def as_decimal(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money_text(value) -> str:
    """Dollars with two decimals, grouped as the active language writes them: en $1,234.50;
    es (Puerto Rico) $1,234.50. Negative amounts: -$12.00. Not a number: as given."""
    amount = as_decimal(value)
    if amount is None:
        return "" if value is None else str(value)
    text = number_format(abs(amount), decimal_pos=2, use_l10n=True, force_grouping=True)
    return f"-{CURRENCY_SYMBOL}{text}" if amount < 0 else f"{CURRENCY_SYMBOL}{text}"

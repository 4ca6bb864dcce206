"""What a refused form may render back: what the person typed, without card data.

A page that answers a refusal shows the form again so the rest of the input is not lost. The card
guard (qiiub.card_guard) decides what card data is; this module leaves every part of the input it
would refuse out of what is rendered back: an input, a textarea, a hidden field, a JSON text, an
error message's parameters. Every view and admin form that re-renders input after an error goes
through here, whatever the refusal was: another check (a missing name, say) may answer before the
guard runs, and a value the guard would refuse is never worth keeping.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import QueryDict

from qiiub.card_guard import find_card_data


def _key_refused(key: Any) -> bool:
    # The guard refuses some names whatever they hold ("cvv", "track2", a card number as a key).
    return find_card_data({key: ""}) is not None


def without_card_data(value: Any) -> Any:
    """`value` (text, number, list or dict, as posted or parsed) without any card data: a text or
    number holding some becomes "" (an item of a list is dropped), a dict entry whose name the guard
    refuses is dropped with its value, and lists and dicts are walked. What holds none is returned as is."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if find_card_data({key: item}) is None:  # also what the guard lets through by name (a barcode)
                kept[key] = item
            elif not _key_refused(key):
                kept[key] = without_card_data(item)
        return kept
    if isinstance(value, (list, tuple)):
        return [without_card_data(item) for item in value
                if isinstance(item, (dict, list, tuple)) or find_card_data(item) is None]
    return "" if find_card_data(value) is not None else value


# JSON's escapes, read as the characters they stand for: "4111\\n1111…" typed in a JSON box is a card.
_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[nrtbf/\\\"])")
_JSON_ESCAPED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"'}


def _unescaped(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda match: chr(int(match.group(1)[1:], 16)) if match.group(1)[0] == "u"
                            else _JSON_ESCAPED[match.group(1)], text)


def text_without_card_data(name: str, text: str) -> str:
    """A posted text without card data: as typed when it holds none (JSON escapes read as what they
    stand for), a JSON value with only the card data taken out, else blank."""
    if find_card_data({name: text}) is None and find_card_data({name: _unescaped(text)}) is None:
        return text
    if not _key_refused(name) and text.lstrip()[:1] in ("{", "["):
        # A JSON field (the admin's schemas, templates): keep its shape, only the card data goes.
        try:
            parsed = json.loads(text)
        except ValueError:
            return ""
        redacted = json.dumps(without_card_data(parsed), ensure_ascii=False)
        return redacted if find_card_data(redacted) is None else ""
    return ""


def form_data_without_card_data(data: QueryDict | dict) -> QueryDict | dict:
    """A copy of posted form data with every value holding card data blanked: what a bound form
    that failed renders back."""
    if not isinstance(data, QueryDict):
        return {name: text_without_card_data(name, text) if isinstance(text, str) else text
                for name, text in data.items()}
    cleaned = data.copy()
    for name, values in data.lists():
        cleaned.setlist(name, [text_without_card_data(name, text) if isinstance(text, str) else text
                               for text in values])
    return cleaned


class CardDataNotEchoedForm:
    """Mixin for a Django form rendered again when it fails: its data and its error messages
    ("Select a valid choice. %(value)s is not …") without card data."""

    def full_clean(self):
        super().full_clean()
        if not self.is_bound or not self._errors:
            return
        self.data = form_data_without_card_data(self.data)
        for errors in self._errors.values():
            for error in errors.as_data():
                if isinstance(error.params, dict):
                    error.params = without_card_data(error.params)
                if find_card_data(str(error.message)) is not None:  # a message that quotes what was sent
                    error.message, error.params = CARD_DATA_MESSAGE, None


class CardGuardedForm(CardDataNotEchoedForm):
    """Mixin for a Django form (the admin's): a field holding card data is refused, as on every other
    inbound path, and the form is rendered again without it."""

    def clean(self):
        data = super().clean()
        for name, value in list((data or {}).items()):  # add_error takes the field out of cleaned_data
            if find_card_data({name: value}) is not None:
                self.add_error(name, CARD_DATA_MESSAGE)
        return data


# The admin and the sign-in page, where these mixins are used, speak English here (as Django's own
# messages beside them do).
CARD_DATA_MESSAGE = "This looks like card data: QIIUB never stores card data."

"""Messages kept as a code and its parameters, and put into words only when someone reads them, in
the reader's language: a vendor's failure, an audit reason, a problem's cause. The catalog below
is the one place their English source lives (`gettext_noop` marks it for translation).

An app adds the texts of its own domain with `catalog_extend` (from its `AppConfig.ready`), so
every stored message, whoever wrote it, is read through `message_text`.

A code the catalog does not know is shown as its `text` parameter (free text a person typed, or a
vendor's own words), else as the code itself, so nothing stored is ever unreadable."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from django.utils.translation import gettext, gettext_noop

# A message that is a person's or a vendor's own words, shown as written.
FREE_TEXT = "text"

CATALOG: dict[str, str] = {
    # A vendor's (or any other system's) answer to a call.
    "vendor_timeout": gettext_noop("%(vendor)s did not answer in time."),
    "vendor_unreachable": gettext_noop("%(vendor)s could not be reached."),
    "vendor_status": gettext_noop("%(vendor)s answered %(status)s."),
    "vendor_rate_limited": gettext_noop("%(vendor)s is rate limiting requests."),
    "credentials_refused": gettext_noop("%(vendor)s refused the credentials."),
    "request_refused": gettext_noop("%(vendor)s refused the request (%(status)s)."),
    "request_refused_said": gettext_noop("%(vendor)s refused the request (%(status)s): %(said)s"),
    "vendor_refused_said": gettext_noop("%(vendor)s refused it: %(said)s"),
    "signin_unreachable": gettext_noop("%(vendor)s's sign-in service could not be reached."),
    "signin_status": gettext_noop("%(vendor)s's sign-in service answered %(status)s."),
    "signin_no_tokens": gettext_noop("%(vendor)s's sign-in service answered %(status)s without tokens."),
    "grant_revoked": gettext_noop("%(vendor)s no longer accepts the connection (invalid_grant)."),
    "app_credentials_refused": gettext_noop("%(vendor)s refused the hub's app credentials (invalid_client): QIIUB "
                                  "support must fix this."),
    "item_unreadable_price": gettext_noop("%(vendor)s sent item %(sku)s with an unreadable price."),
    "item_incomplete": gettext_noop("%(vendor)s sent a stock item without InventoryID or LastModified."),
    "daily_limit_used": gettext_noop("%(vendor)s's daily request limit for this organisation is used up."),
    "minute_limit_used": gettext_noop("%(vendor)s's per-minute request limit for this organisation is used up."),
    "no_stock_location": gettext_noop("The %(vendor)s store has no active location to hold stock."),
    "query_budget_used": gettext_noop("%(vendor)s's query budget is used up for now."),
    "account_unconfirmed": gettext_noop("%(vendor)s did not confirm the account."),
    "ivu_no_rate": gettext_noop("No IVU rate is in force today for %(jurisdictions)s: QIIUB operations set the rates."),
    # Our own webhooks integration's connection test.
    "webhook_no_endpoint": gettext_noop("There is no webhook endpoint to test yet. Add an endpoint on the Webhooks page (or "
                              "enable one there), then test the connection again."),
    "webhook_all_disabled": gettext_noop("Every webhook endpoint is disabled, so there is none to test: enable one on the "
                               "Webhooks page, then test the connection again."),
    "webhook_test_failed": gettext_noop("The test event to %(url)s failed: %(reason)s"),
    "webhook_tests_failed": gettext_noop("%(failures)s"),
    # The store's pharmacy relay, as the hub last heard from it.
    "relay_none": gettext_noop("No relay runs at %(location)s yet: enroll one on the location's Pharmacy page, then "
                     "test again."),
    "relay_silent": gettext_noop("The relay “%(relay)s” has not reported for %(minutes)s min: check that it runs and "
                       "reaches the hub."),
    "relay_settings_pending": gettext_noop("The relay “%(relay)s” has not picked up these settings yet: test again in "
                                 "%(seconds)s s."),
    "relay_not_tried": gettext_noop("The relay “%(relay)s” has not tried the pharmacy system yet: test again in a "
                          "moment."),
    "relay_credentials_refused": gettext_noop("The pharmacy system refused the relay's credentials: check them and save "
                                    "again."),
    "relay_pharmacy_unreachable": gettext_noop("The relay “%(relay)s” cannot reach the pharmacy system (%(error)s): check "
                                     "its host, port and that it runs."),
    # Why an integration's status changed (its history).
    "enabled": gettext_noop("Enabled"),
    "enabled_from_template": gettext_noop("Enabled from the template “%(template)s”"),
    "reenabled": gettext_noop("Enabled again"),
    "activated": gettext_noop("Connection tested and activated"),
    "paused": gettext_noop("Paused"),
    "resumed": gettext_noop("Resumed"),
    "disconnected": gettext_noop("Disconnected"),
    "force_paused": gettext_noop("Paused by QIIUB operations"),
    "credentials_refused_by": gettext_noop("Credentials refused: %(error)s"),
    "auto_paused": gettext_noop("Paused after %(count)s failures in a row: %(error)s"),
    # Open problems (the Issues inbox).
    "codes_unmapped": gettext_noop("Sales use codes with no account: %(codes)s."),
    # A run's outcome (the sync log).
    "export_left_out": gettext_noop("Map %(codes)s to export %(days)s."),
    "unmapped_days": gettext_noop("Map %(codes)s to post %(days)s: those days wait until it is mapped."),
    "next_attempt_in": gettext_noop("%(error)s Next attempt in %(seconds)s s."),
}


def catalog_extend(entries: dict[str, str]) -> None:
    """Add an app's message texts; a code means one thing only."""
    for code, source in entries.items():
        if CATALOG.get(code, source) != source:
            raise ValueError(f"message code {code!r} is already in the catalog with another text")
    CATALOG.update(entries)


class Message(NamedTuple):
    """What is stored: a catalog code and its parameters (JSON-ready)."""

    code: str
    params: dict[str, Any] = {}

    def stored(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    def __str__(self) -> str:
        return message_text(self.code, self.params)


def free_text(text: str) -> Message:
    return Message(FREE_TEXT, {"text": text})


def message_text(code: str, params: dict[str, Any] | None = None) -> str:
    """The message in the active language. Parameters that are themselves stored messages
    (`{"code": …, "params": …}`) are put into words first."""
    params = {name: _in_words(value) for name, value in (params or {}).items()}
    source = CATALOG.get(code)
    if source is None:
        return str(params.get("text") or code)
    try:
        return gettext(source) % params
    except (KeyError, TypeError, ValueError):
        return source % {name: params.get(name, "?") for name in _names(source)}


def stored_text(stored: dict[str, Any] | None) -> str:
    """A stored `{"code": …, "params": …}` in words ("" for none)."""
    if not stored:
        return ""
    return message_text(stored.get("code", ""), stored.get("params"))


def _in_words(value: Any) -> Any:
    if _is_stored(value):
        return message_text(value["code"], value.get("params"))
    if isinstance(value, list):
        if all(_is_stored(item) for item in value) and value:  # several messages: one after another
            return " ".join(message_text(item["code"], item.get("params")) for item in value)
        return ", ".join(str(item) for item in value)
    return value


def _is_stored(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str) and set(value) <= {"code", "params"}


def _names(source: str) -> list[str]:
    return re.findall(r"%\((\w+)\)", source)

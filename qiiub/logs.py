"""A log formatter that prints structured `extra` fields as key=value after the event name."""

import logging

from django.http import HttpRequest

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _shown(value):
    # Django's request logger passes the request itself: its query string can carry OAuth codes,
    # states and whatever a sender put there, so only the method and path are written.
    if isinstance(value, HttpRequest):
        return f"{value.method} {value.path}"
    return value


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{key}={_shown(value)}" for key, value in sorted(extras.items()))
        return line

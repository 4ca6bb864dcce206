"""The log formats: `plain` (key=value after the event name, for a person at a terminal) and `json`
(one JSON object per line, for a log collector). Both show the record's `extra` fields and its
request id, merchant and task (qiiub.log_context), drop what is under a sensitive key and mask
card numbers (qiiub.scrubbing)."""

import json
import logging
from datetime import UTC, datetime

from django.http import HttpRequest

from qiiub.card_guard import mask_card_numbers
from qiiub.scrubbing import is_sensitive_key, scrubbed

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# Celery's trace logs its message's context again under `data`, the task's arguments with it: the
# message already says which task did what.
_CELERY_CONTEXT = "data"


def _shown(value):
    # Django's request logger passes the request itself: its query string can carry OAuth codes,
    # states and whatever a sender put there, so only the method and path are written.
    if isinstance(value, HttpRequest):
        return f"{value.method} {value.path}"
    return value


def _extras(record: logging.LogRecord) -> dict:
    """The record's extra fields and context (those set), scrubbed (qiiub.scrubbing)."""
    return {key: scrubbed(_shown(value)) for key, value in vars(record).items()
            if key not in _STANDARD and key != _CELERY_CONTEXT and value != "" and not is_sensitive_key(key)}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if extras := _extras(record):
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return mask_card_numbers(line)


def _json_ready(value):
    """`value` as JSON can hold it: containers walked, anything else not JSON-native as its text."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(_shown(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the context and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in _extras(record).items():
            entry.setdefault(key, scrubbed(_json_ready(value)))
        for key in ("message", "exception", "stack"):
            if key in entry:
                entry[key] = mask_card_numbers(entry[key])
        return json.dumps(entry, ensure_ascii=False, default=str)

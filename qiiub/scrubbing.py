"""What never leaves the hub in a log line or an error report: card numbers, secrets and patient data.

One list of key names, used by the log formatters (qiiub/logs.py) and the error reports' scrubber
(qiiub/error_reports.py): a value under a secret's, a patient field's or a task argument's name is
dropped, and every text left has its card numbers masked by the card guard.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from qiiub.card_guard import find_card_data, mask_card_numbers
from qiiub.phi import PHI_FIELD_NAMES

# A key holding any of these, wherever in its name ("client_secret", "X-Api-Key", "refresh_token",
# "sessionid", "csrftoken"), holds a secret.
SECRET_KEY_WORDS = (
    "password", "passwd", "secret", "token", "authorization", "cookie", "session", "csrf", "api_key",
    "apikey", "credential", "private_key", "dsn", "otp",
)
# A task's arguments are whatever its caller passed: Celery logs them and Sentry's Celery integration
# reports them, so they are dropped like a secret.
TASK_ARGUMENT_KEYS = frozenset({"args", "kwargs"})
FILTERED = "[Filtered]"


@lru_cache(maxsize=4096)
def is_sensitive_key(name: str) -> bool:
    """Whether a value stored under `name` must never be shown (logged, reported)."""
    normal = name.lower().replace("-", "_")
    if normal in PHI_FIELD_NAMES or normal in TASK_ARGUMENT_KEYS:
        return True
    if any(word in normal for word in SECRET_KEY_WORDS):
        return True
    return find_card_data({name: ""}) is not None  # the card guard's refused names: CVV, PIN block, track data


def scrubbed(value: Any) -> Any:
    """A copy of `value` (text, number, list or dict) with what is under a sensitive key replaced by
    FILTERED and every card number masked (first 6 and last 4 kept)."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, dict):
        return {key: FILTERED if is_sensitive_key(str(key)) else scrubbed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrubbed(item) for item in value]
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        text = str(value)
        masked = mask_card_numbers(text)
        return value if masked == text else masked
    return value

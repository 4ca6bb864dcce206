"""Retry-After is read in one place (qiiub.retry.retry_after_seconds) for every vendor and
endpoint: delay-seconds, Shopify's decimal seconds, or an HTTP-date; anything else leaves our own
backoff in charge."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from qiiub.retry import MAX_RETRY_AFTER_S, retry_after_seconds

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    ("2.0", 2.0),  # Shopify's form
    (" 30 ", 30.0),
    (format_datetime(NOW + timedelta(minutes=5), usegmt=True), 300.0),
    ("Wed, 02 Dec 2026 13:00:45 GMT", 45.0),
    (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),  # already past: go now
    ("9999999", float(MAX_RETRY_AFTER_S)),  # a day at most
])
def test_readable_waits(header, seconds):
    assert retry_after_seconds(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "-", "nan", "inf", "Wed, 99 Foo 2026"])
def test_unreadable_waits_leave_our_backoff_in_charge(header):
    assert retry_after_seconds(header, now=NOW) is None

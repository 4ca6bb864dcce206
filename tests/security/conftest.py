"""Fixtures shared by the security tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog

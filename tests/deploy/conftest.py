"""Production-looking settings for processes these tests start, with an email provider that delivers."""

import pytest

from tests.production import production_keys


@pytest.fixture(scope="session")
def production_env(process_env) -> dict[str, str]:
    return {**process_env, **production_keys(), "EMAIL_PROVIDER": "mandrill", "MANDRILL_API_KEY": "md-production-key"}

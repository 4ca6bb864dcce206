"""Session fixtures: the registry and the demo personas (tenant schemas made once per session),
and the demo simulator on a free port. Tests isolate by transaction rollback (the `db` fixture);
the few that need committed data (real server, real worker, database dump) clean up after."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings

from integrations.simulators.demo import make_server

SEEDS = Path(settings.BASE_DIR) / "seeds"


@dataclass
class Simulator:
    url: str
    state: object

    def control(self, token: str, **options) -> None:
        requests.post(f"{self.url}/_control", json={"token": token, **options}, timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def simulator():
    server = make_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    previous = settings.DEMO_SIMULATOR_URL
    settings.DEMO_SIMULATOR_URL = url
    yield Simulator(url=url, state=server.RequestHandlerClass.state)
    settings.DEMO_SIMULATOR_URL = previous
    server.shutdown()


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """Always the test database (pytest-django would skip it when only `committed` tests run),
    with the registry and the personas' tenant schemas made once for the session."""
    from django.test.utils import setup_databases, teardown_databases

    from integrations.services.registry import registry_load
    from seeds.demo import ensure_personas

    with django_db_blocker.unblock():
        databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        registry_load(seeds_dir=SEEDS)
        ensure_personas()
    yield
    with django_db_blocker.unblock():
        teardown_databases(databases, verbosity=0)


@pytest.fixture
def personas(db):
    from seeds.demo import ensure_personas

    return ensure_personas()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Autocommit access for tests whose data another process must see; rows they create for
    merchant integrations are removed afterwards so other tests start clean."""
    from integrations.models import MerchantIntegration
    from qiiub.models import VaultSecret
    from seeds.demo import ensure_personas

    with django_db_blocker.unblock():
        before = set(MerchantIntegration.objects.values_list("pk", flat=True))
        secrets_before = set(VaultSecret.objects.values_list("pk", flat=True))
        yield ensure_personas()
        MerchantIntegration.objects.exclude(pk__in=before).delete()
        VaultSecret.objects.exclude(pk__in=secrets_before).delete()

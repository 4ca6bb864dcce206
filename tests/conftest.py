"""Session fixtures: the registry and the demo personas (tenant schemas made once per session),
and the demo simulator on a free port. Tests isolate by transaction rollback (the `db` fixture);
the few that need committed data (real server, real worker, database dump) clean up after."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings

from simulators import acumatica, athmovil, dynamics_payments, quickbooks, shopify, stripe, xero
from simulators.demo import make_server
from tests.broker import broker_is_amqp, queues_delete
from tests.processes import poll_queue_of, serve_portal, start_worker, stop_worker
from tests.sandbox_vendors import sandbox_definitions

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
    previous = settings.DEMO_BASE_URL
    settings.DEMO_BASE_URL = url
    yield Simulator(url=url, state=server.RequestHandlerClass.state)
    settings.DEMO_BASE_URL = previous
    server.shutdown()


@dataclass
class VendorFake:
    """A vendor fake (simulators/) served in this process for the whole session."""

    url: str
    state: object

    def control(self, **options) -> None:
        requests.post(f"{self.url}/_control", json=options, timeout=5).raise_for_status()

    def posted(self) -> dict:
        return requests.get(f"{self.url}/_state", timeout=5).json()


def _served(module):
    server = module.make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, VendorFake(url=f"http://127.0.0.1:{server.server_port}", state=server.state)


def _oauth_vendor_fake(module, vendor: str, endpoints: str):
    """Serve the fake and point the hub's settings of the vendor (e.g. XERO, XERO_ENDPOINTS) at it."""
    server, fake = _served(module)
    config, endpoints = getattr(settings, vendor), getattr(settings, endpoints)
    previous = dict(config)
    config.update({name: f"{fake.url}{path}" for name, (_, path) in endpoints.items()})
    yield fake
    config.update(previous)
    server.shutdown()


@pytest.fixture(scope="session")
def quickbooks_fake():
    """The QuickBooks Online / Intuit OAuth fake."""
    yield from _oauth_vendor_fake(quickbooks, "QUICKBOOKS", "QBO_ENDPOINTS")


@pytest.fixture(scope="session")
def xero_fake():
    """The Xero identity / Connections / Accounting fake."""
    yield from _oauth_vendor_fake(xero, "XERO", "XERO_ENDPOINTS")


@pytest.fixture(scope="session")
def shopify_fake():
    """The Shopify Admin API fake, standing in for every merchant's shop."""
    server, fake = _served(shopify)
    previous, settings.SHOPIFY_BASE_URL = settings.SHOPIFY_BASE_URL, fake.url
    yield fake
    settings.SHOPIFY_BASE_URL = previous
    server.shutdown()


@pytest.fixture(scope="session")
def acumatica_fake():
    """The Acumatica fake, standing in for every merchant's instance."""
    server, fake = _served(acumatica)
    previous, settings.ACUMATICA_BASE_URL = settings.ACUMATICA_BASE_URL, fake.url
    yield fake
    settings.ACUMATICA_BASE_URL = previous
    server.shutdown()


def _processor_fake(module, **paths: str):
    """A payment processor's fake, with the hub's settings for it (name → path under the fake's
    address) pointed at it for the session."""
    server, fake = _served(module)
    previous = {name: getattr(settings, name) for name in paths}
    for name, path in paths.items():
        setattr(settings, name, f"{fake.url}{path}")
    yield fake
    for name, value in previous.items():
        setattr(settings, name, value)
    server.shutdown()


@pytest.fixture(scope="session")
def stripe_fake():
    """The Stripe fake: every secret key is an account of its own."""
    yield from _processor_fake(stripe, STRIPE_API_URL="")


@pytest.fixture(scope="session")
def athmovil_fake():
    """The ATH Móvil fake, on both of ATH Móvil's hosts (payments and refunds)."""
    yield from _processor_fake(athmovil, ATHMOVIL_PAYMENTS_URL=settings.ATHMOVIL_PATH,
                               ATHMOVIL_REFUND_URL=settings.ATHMOVIL_PATH)


@pytest.fixture(scope="session")
def dynamics_fake():
    """The Dynamics Payments fake (built from public facts: the processor publishes no API)."""
    yield from _processor_fake(dynamics_payments, DYNAMICS_PAYMENTS_API_URL="/WebApi/APaymentTokenApi")


@pytest.fixture(autouse=True)
def _vendor_fakes_reset(quickbooks_fake, xero_fake, acumatica_fake, shopify_fake):
    """Every test meets the vendor fakes as new: no grants, entries, sessions or injected faults."""
    for fake in (quickbooks_fake, xero_fake, acumatica_fake, shopify_fake):
        fake.control(reset=True)


@pytest.fixture(autouse=True)
def _language_reset():
    """Each test starts in the default language: a request through the test client runs in this
    thread, and one that switches language (the top bar's form) leaves it active otherwise."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def eager_bus():
    """Deliveries run in this process as soon as they are sent (the worker tests use a real one)."""
    from qiiub.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(scope="session", autouse=True)
def _own_task_queue():
    """Tasks the tests send go to a queue of this session's: a `make run` worker on the same broker
    (the default queue) must never take them to its own database. On RabbitMQ the session's queues
    are deleted at its end."""
    import uuid

    from qiiub.celery import app

    development_queues = {settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_POLL_QUEUE}  # a `make run` worker's
    app.conf.task_default_queue = f"pytest-{uuid.uuid4().hex[:8]}"
    settings.CELERY_POLL_QUEUE = f"{app.conf.task_default_queue}-poll"
    yield
    if broker_is_amqp():  # RabbitMQ's queues are durable: the session's would pile up
        queues_delete(set(app.amqp.queues) - development_queues)


_CACHE_KEY_PREFIX = f"pytest-{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def _own_cache_keys():
    """The cache (sign-in throttling) under keys of this session's, for the processes it starts
    too: the tests' failed sign-ins never lock out a `make run` portal on the same Redis."""
    from django.test import override_settings

    with override_settings(CACHES={"default": {**settings.CACHES["default"], "KEY_PREFIX": _CACHE_KEY_PREFIX}}):
        yield


@pytest.fixture(autouse=True)
def _relay_wake_cleared():
    """No test inherits another's "relay queued" mark: most tests' queues have no worker."""
    from events.bus import CeleryBus

    CeleryBus().clear_relay_wake()


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, quickbooks_fake, xero_fake, acumatica_fake,
                    shopify_fake):
    """Always the test database (pytest-django would skip it when only `committed` tests run),
    with the registry and the personas' tenant schemas made once for the session."""
    from django.test.utils import setup_databases, teardown_databases

    from devices.setting_seeds import settings_load
    from integrations.services.registry import registry_load
    from seeds.demo import ensure_personas
    from taxes.ivu import ivu_rules_load

    with django_db_blocker.unblock():
        databases = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        registry_load(seeds_dir=SEEDS)
        sandbox_definitions()
        settings_load(path=SEEDS / "settings.json")
        ivu_rules_load(path=SEEDS / "ivu.json")
        _personas_read_english(ensure_personas())
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        with connection.cursor() as cursor:  # processes the tests started may still hold a connection
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [connection.settings_dict["NAME"]],
            )
        teardown_databases(databases, verbosity=0)


def _personas_read_english(personas) -> None:
    """The demo's Puerto Rico merchants speak Spanish; the tests read the portal in English, so each
    persona has chosen English (tests/qiiub/test_languages.py covers the automatic choice)."""
    from merchants.services import user_language_set

    for user in (personas.sysadmin, personas.partner_admin, personas.merchant_admin, personas.retail_admin):
        user_language_set(user=user, language="en")


@pytest.fixture
def personas(db):
    from seeds.demo import ensure_personas

    return ensure_personas()


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Autocommit access for tests whose data another process must see; rows they create for
    merchant integrations, secrets and events are removed afterwards so other tests start clean."""
    from devices.models import EnrollmentCode, SettingValue, Terminal
    from events.models import EventDailyCount, OutboxEvent
    from integrations.models import MerchantIntegration
    from qiiub.models import VaultSecret
    from seeds.demo import ensure_personas
    from webhooks.models import WebhookEndpoint

    created_by_test = (MerchantIntegration, VaultSecret, OutboxEvent, EventDailyCount, WebhookEndpoint, Terminal,
                       EnrollmentCode, SettingValue)
    with django_db_blocker.unblock():
        before = {model: set(model.objects.values_list("pk", flat=True)) for model in created_by_test}
        yield ensure_personas()
        for model in created_by_test:
            model.objects.exclude(pk__in=before[model]).delete()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def process_env(django_db_setup, simulator, quickbooks_fake, xero_fake, acumatica_fake, shopify_fake, stripe_fake,
                athmovil_fake, dynamics_fake):
    """Environment for processes the tests start (worker, portal): the test database, the
    session's simulator, and a Celery queue and cache keys of their own."""
    import uuid

    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DEMO_BASE_URL": simulator.url,
        "QBO_BASE_URL": quickbooks_fake.url,
        "XERO_BASE_URL": xero_fake.url,
        "ACUMATICA_BASE_URL": acumatica_fake.url,
        "SHOPIFY_BASE_URL": shopify_fake.url,
        "STRIPE_BASE_URL": stripe_fake.url,
        "ATHMOVIL_BASE_URL": athmovil_fake.url,
        "DYNAMICS_PAYMENTS_BASE_URL": dynamics_fake.url,
        "CELERY_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        "CACHE_KEY_PREFIX": _CACHE_KEY_PREFIX,
        "DJANGO_SETTINGS_MODULE": "qiiub.settings",
    }


@pytest.fixture(scope="session")
def celery_worker_process(process_env):
    """A real Celery worker on the test database and the session's own queue."""
    from qiiub.celery import app

    queue = process_env["CELERY_QUEUE"]
    worker = start_worker(process_env, queue)
    previous = app.conf.task_default_queue, settings.CELERY_POLL_QUEUE
    app.conf.task_default_queue, settings.CELERY_POLL_QUEUE = queue, poll_queue_of(queue)
    yield worker
    stop_worker(worker)
    app.conf.task_default_queue, settings.CELERY_POLL_QUEUE = previous


@pytest.fixture(scope="session")
def portal_server(process_env):
    """The portal served by a real HTTP server process on a free port, against the test database."""
    yield from serve_portal(process_env, LOGIN_MAX_FAILURES="50")

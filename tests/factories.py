"""Small helpers that drive the services the way the portal does."""

from __future__ import annotations

from integrations.models import IntegrationDefinition, MerchantIntegration
from integrations.services import lifecycle

ACUMATICA_CONFIG = {
    "instance_url": "https://example.acumatica.com",
    "company": "FSJ",
    "endpoint_version": "23.200.001",
    "poll_every_minutes": 15,
}


def definition(code: str) -> IntegrationDefinition:
    return IntegrationDefinition.objects.get(code=code)


def active_acumatica(merchant, *, by, token: str = "tok-acumatica") -> MerchantIntegration:
    integration = lifecycle.merchant_integration_enable(merchant=merchant, definition=definition("erp.acumatica"), by=by)
    integration = lifecycle.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=by)
    integration = lifecycle.merchant_integration_set_credentials(
        integration=integration, credentials={"username": token, "password": "pw-" + token}, by=by
    )
    assert lifecycle.merchant_integration_test_connection(integration=integration, by=by) is None
    return lifecycle.merchant_integration_activate(integration=integration, by=by)


def run_concurrently(operation, times: int = 2) -> list:
    """Run `operation` in `times` threads released at the same instant, each on its own database
    connection; returns what each returned (or the exception it raised)."""
    import threading

    from django.db import connections

    results: list = []
    barrier = threading.Barrier(times)

    def run():
        barrier.wait()
        try:
            results.append(operation())
        except Exception as error:  # noqa: BLE001  (the caller inspects what each thread got)
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results

"""Liveness and readiness, for a load balancer or an orchestrator: cheap, unauthenticated, and
answering only "ok" or "not ready" (which check failed goes to the log, never to the caller).

Ready means: the database answers and has every migration applied, the cache and broker answer, and
a worker ran beat's heartbeat task within `HEALTH_HEARTBEAT_MAX_AGE_S`. Only beat sends that task
(every 30 s, expiring unsent after 30 s), so a recent run shows both a worker and beat alive.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "qiiub:health:worker-heartbeat"
_migrations_applied = False  # once true in a process it stays true: migrations are applied before a deploy


def heartbeat_record() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


def _database() -> bool:
    global _migrations_applied
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


def _cache() -> bool:
    # Checked on its own: with RabbitMQ as the broker, Redis is only the cache, and the heartbeat lives there.
    cache.get(HEARTBEAT_KEY)
    return True


def _broker() -> bool:
    from qiiub.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
    return True


def _heartbeat() -> bool:
    seen = cache.get(HEARTBEAT_KEY)
    return seen is not None and time.time() - seen <= settings.HEALTH_HEARTBEAT_MAX_AGE_S


CHECKS = {"database": _database, "cache": _cache, "broker": _broker, "worker_and_beat": _heartbeat}


def readiness_failures() -> list[str]:
    failed = []
    for name, check in CHECKS.items():
        try:
            if not check():
                failed.append(name)
        except Exception:  # noqa: BLE001  (any failure of a dependency is "not ready", whatever it raised)
            failed.append(name)
    return failed


@never_cache
@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
def readyz(request):
    if failed := readiness_failures():
        logger.warning("health.not_ready", extra={"failed": ",".join(failed)})
        return JsonResponse({"ready": False}, status=503)
    return JsonResponse({"ready": True})

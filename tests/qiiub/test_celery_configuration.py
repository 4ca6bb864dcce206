from celery.app.defaults import DEFAULTS
from django.conf import settings

from qiiub.celery import app


def test_celery_takes_its_settings_from_django():
    assert app.conf.task_acks_late is settings.CELERY_TASK_ACKS_LATE is True
    assert app.conf.worker_prefetch_multiplier == settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert app.conf.beat_scheduler == settings.CELERY_BEAT_SCHEDULER
    assert app.conf.task_serializer == "json"  # a key our settings leave at Celery's default


def test_every_celery_key_is_resolved_once():
    # A read that reached Django's lazy settings would cost ~12 µs, several times per message.
    assert set(DEFAULTS) <= set(app.conf.changes)


BROKER_KEYS = ["CELERY_BROKER_URL", "CELERY_TASK_DEFAULT_QUEUE_TYPE", "CELERY_TASK_CREATE_MISSING_QUEUE_TYPE",
               "CELERY_WORKER_DETECT_QUORUM_QUEUES", "CELERY_TASK_DEFAULT_EXCHANGE_TYPE",
               "CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE", "CELERY_BROKER_TRANSPORT_OPTIONS"]


def _broker_settings(**environment: str) -> dict:
    """The broker's settings as a process started with `environment` reads them."""
    import json
    import os
    import subprocess
    import sys

    code = f"import json, qiiub.settings as s; print(json.dumps({{k: getattr(s, k) for k in {BROKER_KEYS} if hasattr(s, k)}}))"
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    result = subprocess.run([sys.executable, "-c", code], env={**env, **environment}, cwd=settings.BASE_DIR,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_broker_is_the_caches_redis_unless_celery_broker_url_names_another():
    assert _broker_settings(REDIS_URL="redis://127.0.0.1:6399/3") == {"CELERY_BROKER_URL": "redis://127.0.0.1:6399/3"}
    rabbitmq = "amqp://guest:guest@127.0.0.1:5672//"
    assert _broker_settings(REDIS_URL="redis://127.0.0.1:6399/3", CELERY_BROKER_URL=rabbitmq) == {
        "CELERY_BROKER_URL": rabbitmq,
        "CELERY_TASK_DEFAULT_QUEUE_TYPE": "quorum", "CELERY_TASK_CREATE_MISSING_QUEUE_TYPE": "quorum",
        "CELERY_WORKER_DETECT_QUORUM_QUEUES": True,
        "CELERY_TASK_DEFAULT_EXCHANGE_TYPE": "topic", "CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE": "topic",
        "CELERY_BROKER_TRANSPORT_OPTIONS": {"confirm_publish": True},
    }

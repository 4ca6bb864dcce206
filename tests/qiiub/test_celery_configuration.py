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

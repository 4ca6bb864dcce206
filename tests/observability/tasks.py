"""Tasks only the tests' workers run (`-I tests.observability.tasks`): one that fails holding card data,
a secret and a patient's name, and a pair where one task queues the next."""

import logging

from qiiub.celery import app

logger = logging.getLogger(__name__)


@app.task(name="tests.observability.fail_holding_secrets")
def fail_holding_secrets(*, card_number: str, token: str, patient_name: str) -> None:
    raise ValueError(f"the processor refused card {card_number}")


@app.task(name="tests.observability.queue_next")
def queue_next(*, marker: str) -> None:
    logger.info("observability.first", extra={"marker": marker})
    log_arrival.delay(marker=marker)


@app.task(name="tests.observability.log_arrival")
def log_arrival(*, marker: str) -> None:
    logger.info("observability.next", extra={"marker": marker})

"""Running one sync of a merchant integration through its connector, with its sync log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.connectors.registry import connector_class_for_definition, connector_for
from integrations.models import (
    IntegrationSyncLog,
    MerchantIntegration,
    ProblemKind,
    ProblemResolution,
    Status,
    SyncDirection,
    SyncStatus,
)
from integrations.services import polling, problems
from integrations.services.health import merchant_integration_record_failure, merchant_integration_record_success
from qiiub.card_guard import mask_card_numbers
from qiiub.errors import NotAllowed
from qiiub.http import ConnectorError, RateLimited
from qiiub.messages import Message
from qiiub.metrics.counters import SYNC_RUNS
from qiiub.retry import RATE_LIMIT_BACKOFF

logger = logging.getLogger(__name__)


def merchant_integration_sync(
    *, integration: MerchantIntegration, due: polling.Due = polling.POLLS
) -> IntegrationSyncLog | None:
    """Sync from the stored watermark; the watermark advances only when the run succeeds. The next
    poll (or scheduled batch, `due`) is set by the outcome: the usual interval or schedule, or the
    wait a rate-limiting vendor asked for (a 429 is not a failure: it does not count toward
    auto-pause)."""
    if integration.status != Status.ACTIVE:
        return None
    started = timezone.now()
    clock = time.monotonic()
    direction = _direction(integration)
    try:
        result = connector_for(integration).sync(since=integration.sync_watermark)
    except RateLimited as error:
        wait = timedelta(seconds=error.retry_after) if error.retry_after else RATE_LIMIT_BACKOFF
        log = IntegrationSyncLog.objects.create(
            merchant_integration=integration, direction=direction, status=SyncStatus.RATE_LIMITED,
            duration_ms=int((time.monotonic() - clock) * 1000),
            error_message=Message("next_attempt_in", {"error": error.stored(),
                                                      "seconds": int(wait.total_seconds())}).stored(),
            started_at=started, finished_at=timezone.now(),
        )
        polling.rescheduled(integration=integration, due=due, rate_limited_for=wait)
        _counted(log, integration=integration, error=error)
        return log
    except ConnectorError as error:
        with transaction.atomic():
            log = IntegrationSyncLog.objects.create(
                merchant_integration=integration,
                direction=direction,
                status=SyncStatus.FAILED,
                error_count=1,
                duration_ms=int((time.monotonic() - clock) * 1000),
                error_message=error.stored(),
                started_at=started,
                finished_at=timezone.now(),
            )
            merchant_integration_record_failure(integration=integration, error=error)
            polling.rescheduled(integration=integration, due=due)
            _counted(log, integration=integration, error=error)
        return log
    codes = sorted({code for day_codes in result.unmapped.values() for code in day_codes})
    with transaction.atomic():
        log = IntegrationSyncLog.objects.create(
            merchant_integration=integration,
            direction=result.direction,
            status=SyncStatus.PARTIAL if result.record_errors or result.unmapped else SyncStatus.SUCCESS,
            records_pushed=result.records_pushed,
            records_pulled=result.records_pulled,
            error_count=len(result.record_errors) + len(result.unmapped),
            error_message=Message("unmapped_days", {"codes": codes, "days": _days(result.unmapped)}).stored()
            if codes else {},
            duration_ms=int((time.monotonic() - clock) * 1000),
            error_summary=mask_card_numbers("\n".join(result.record_errors[:20])),  # vendors' words
            started_at=started,
            finished_at=timezone.now(),
        )
        merchant_integration_record_success(integration=integration)
        if codes:
            problems.unmapped_seen(integration=integration, codes=codes)
        else:
            problems.problems_resolve(integrations=[integration], kinds=[ProblemKind.UNMAPPED],
                                      resolution=ProblemResolution.MAPPED)
        polling.rescheduled(integration=integration, due=due)
        if result.new_watermark:
            MerchantIntegration.objects.filter(pk=integration.pk).update(sync_watermark=result.new_watermark)
        _counted(log, integration=integration)
    return log


def _counted(log: IntegrationSyncLog, *, integration: MerchantIntegration, error: ConnectorError | None = None) -> None:
    """Count the run for /metrics once its log is committed: by connector, outcome and the error's
    class code (a bounded set; the reason's parameters stay in the log)."""
    labels = {"connector": integration.definition.code, "outcome": log.status,
              "error_code": error.code if error is not None else "none"}
    transaction.on_commit(lambda: SYNC_RUNS.add(**labels))


def _days(unmapped: dict[str, list[str]], shown: int = 20) -> str:
    days = list(unmapped)
    return ", ".join(days[:shown]) + (" …" if len(days) > shown else "")


def _direction(integration: MerchantIntegration) -> str:
    """Which way a run of this integration goes: a poll pulls, everything else pushes."""
    capabilities = connector_class_for_definition(integration.definition_id).capabilities
    return SyncDirection.PULL if "poll" in capabilities else SyncDirection.PUSH


def merchant_integration_sync_soon(
    *, integration: MerchantIntegration, enqueue_poll: Callable[[list[int]], None],
    enqueue_batch: Callable[[list[int]], None],
) -> None:
    """Run the integration's poll or batch on a worker now, not at its next time (after a fix).
    `enqueue_poll` / `enqueue_batch` hand integration ids to a worker (the tasks' senders)."""
    if integration.status != Status.ACTIVE:
        raise NotAllowed(_("Only an active integration syncs: resume or activate it first."), code="not_active")
    capabilities = connector_class_for_definition(integration.definition_id).capabilities
    if "poll" in capabilities:
        enqueue = enqueue_poll
    elif "scheduled_batch" in capabilities:
        enqueue = enqueue_batch
    else:
        raise NotAllowed(_("%(name)s has nothing to sync on demand.") % {"name": integration.definition.name},
                         code="nothing_to_sync")
    transaction.on_commit(lambda: enqueue([integration.pk]))
    logger.info("integration.sync_requested", extra={"integration_id": integration.pk})

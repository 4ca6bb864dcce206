"""Running one sync of a merchant integration through its connector, with its sync log."""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from integrations.connectors.base import ConnectorError
from integrations.models import IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from integrations.services.lifecycle import (
    connector_for,
    merchant_integration_record_failure,
    merchant_integration_record_success,
)


def merchant_integration_sync(*, integration: MerchantIntegration) -> IntegrationSyncLog | None:
    """Sync from the stored watermark; the watermark advances only when the run succeeds."""
    if integration.status != Status.ACTIVE:
        return None
    started = timezone.now()
    clock = time.monotonic()
    try:
        result = connector_for(integration).sync(since=integration.sync_watermark)
    except ConnectorError as error:
        with transaction.atomic():
            log = IntegrationSyncLog.objects.create(
                merchant_integration=integration,
                direction="push",
                status=SyncStatus.FAILED,
                error_count=1,
                duration_ms=int((time.monotonic() - clock) * 1000),
                error_summary=f"{error.message} {error.advice}",
                started_at=started,
                finished_at=timezone.now(),
            )
            merchant_integration_record_failure(integration=integration, error=error)
        return log
    with transaction.atomic():
        log = IntegrationSyncLog.objects.create(
            merchant_integration=integration,
            direction=result.direction,
            status=SyncStatus.PARTIAL if result.record_errors else SyncStatus.SUCCESS,
            records_pushed=result.records_pushed,
            records_pulled=result.records_pulled,
            error_count=len(result.record_errors),
            duration_ms=int((time.monotonic() - clock) * 1000),
            error_summary="\n".join(result.record_errors[:20]),
            started_at=started,
            finished_at=timezone.now(),
        )
        merchant_integration_record_success(integration=integration)
        if result.new_watermark:
            MerchantIntegration.objects.filter(pk=integration.pk).update(sync_watermark=result.new_watermark)
    return log

"""A partner's fleet of stores for measuring and testing the partner pages: merchants as rows (no
tenant schemas: the partner pages never enter one), each with QuickBooks Online, Xero and
Acumatica installed, a few of them failing, and days of sync logs. Bulk inserts only."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.models import (
    IntegrationDefinition,
    IntegrationSyncLog,
    MerchantIntegration,
    PausedReason,
    Problem,
    ProblemKind,
    Status,
)
from merchants.models import Merchant
from partners.models import Partner

CODES = ("accounting.quickbooks_online", "accounting.xero", "erp.acumatica")
OUTAGE = {"code": "vendor_status", "params": {"vendor": "Acumatica", "status": 503}}


def partner_fleet(partner: Partner, *, stores: int, days: int = 30, runs_per_day: int = 4, prefix: str = "fleet") -> int:
    """Add `stores` merchants to the partner; every seventh store's Acumatica is auto-paused by the
    same outage. Returns how many sync logs were written."""
    merchants = Merchant.objects.bulk_create([
        Merchant(name=f"{prefix.title()} store {index:04d}", slug=f"{prefix}-{index:04d}",
                 schema_name=f"{prefix}_{index:04d}", vertical="pharmacy", partner=partner)
        for index in range(stores)
    ])
    definitions = {code: IntegrationDefinition.objects.get(code=code) for code in CODES}
    now = timezone.now()
    installs = []
    for index, merchant in enumerate(merchants):
        for code, definition in definitions.items():
            down = code == "erp.acumatica" and index % 7 == 0
            installs.append(MerchantIntegration(
                merchant=merchant, definition=definition, status=Status.PAUSED if down else Status.ACTIVE,
                paused_reason=PausedReason.AUTO if down else "", consecutive_error_count=3 if down else 0,
                last_sync_at=now))
    installs = MerchantIntegration.objects.bulk_create(installs, batch_size=5000)
    Problem.objects.bulk_create([
        Problem(merchant_id=install.merchant_id, merchant_integration=install, kind=ProblemKind.VENDOR_DOWN,
                cause=OUTAGE, first_seen_at=now, last_seen_at=now, occurrences=3)
        for install in installs if install.status == Status.PAUSED], batch_size=5000)
    logs = [
        IntegrationSyncLog(merchant_integration=install, direction="push",
                           status="failed" if install.status == Status.PAUSED and run % 5 == 0 else "success",
                           records_pushed=3, started_at=now - timedelta(hours=run * 24 / runs_per_day),
                           finished_at=now - timedelta(hours=run * 24 / runs_per_day))
        for install in installs for run in range(days * runs_per_day)
    ]
    IntegrationSyncLog.objects.bulk_create(logs, batch_size=10000)
    return len(logs)

"""A bulk job on a real Celery worker, queued on commit by the service the portal calls."""

import time

import pytest

from merchants.models import Merchant
from partners.models import BulkAction, BulkJob, BulkJobStatus, PartnerIntegrationTemplate
from partners.services import bulk
from tests.partners.conftest import add_stores

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_stores(committed, celery_worker_process):
    merchants = add_stores(committed.partner, 30, prefix="worker")
    yield merchants
    BulkJob.objects.filter(partner=committed.partner).delete()
    Merchant.objects.filter(pk__in=[m.pk for m in merchants]).delete()


def wait_until_finished(job: BulkJob, seconds: float = 60) -> BulkJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.status} after {seconds:.0f} s ({job.processed}/{job.total})")


def test_a_bulk_job_queued_on_commit_runs_to_the_end_on_a_worker(committed, worker_stores):
    template = PartnerIntegrationTemplate.objects.get(partner=committed.partner, is_default=True)

    job = bulk.bulk_job_create(partner=committed.partner, action=BulkAction.ENABLE, template=template,
                               merchant_ids=[m.pk for m in worker_stores], by=committed.partner_admin, dry_run=False)

    job = wait_until_finished(job)
    assert job.status == BulkJobStatus.DONE and job.processed == 30 and job.failed == 0
    assert template.definition.installations.filter(merchant__in=worker_stores).count() == 30

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


@pytest.mark.fault
def test_a_job_whose_message_was_lost_is_resumed_by_the_sweep_and_finishes_once(committed, worker_stores):
    from datetime import timedelta

    from django.utils import timezone

    from qiiub.celery import app

    template = PartnerIntegrationTemplate.objects.get(partner=committed.partner, is_default=True)
    # given a job whose message went where no worker listens (a broker lost it, or its worker died)
    queue, app.conf.task_default_queue = app.conf.task_default_queue, f"{app.conf.task_default_queue}-lost"
    try:
        job = bulk.bulk_job_create(partner=committed.partner, action=BulkAction.ENABLE, template=template,
                                   merchant_ids=[m.pk for m in worker_stores], by=None, dry_run=False)
    finally:
        app.conf.task_default_queue = queue
    assert bulk.bulk_jobs_resume_stalled() == 0  # a job queued a moment ago is left to its message
    BulkJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - bulk.STALLED_AFTER - timedelta(seconds=1))

    # when the sweep runs
    assert bulk.bulk_jobs_resume_stalled() == 1

    # then a worker finishes it, each store enabled once
    assert wait_until_finished(job).status == BulkJobStatus.DONE and job.processed == 30
    assert template.definition.installations.filter(merchant__in=worker_stores).count() == 30
    assert bulk.bulk_jobs_resume_stalled() == 0  # nothing stalled any more

"""Bulk jobs: one action over many of a partner's stores, as a background job with progress.

A job is created with its stores and their waves in one transaction, then run by a worker: the
first wave (a few stores), then — unless more than `halt_failure_rate` of that wave failed — the
rest, in batches that each commit their writes and the job's progress together. A dry run says per
store what would happen and writes nothing else. A worker that dies mid-job leaves its batch
uncommitted; the redelivered task carries on with the stores still pending.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from integrations.services import enabling, transitions
from merchants.models import Merchant
from partners.models import (
    CHANGED_MEANWHILE,
    FAILED_OUTCOMES,
    BulkAction,
    BulkJob,
    BulkJobStatus,
    BulkJobStore,
    BulkOutcome,
    Partner,
    PartnerIntegrationTemplate,
)
from qiiub.errors import ApplicationError, NotAllowed, ValidationFailed

logger = logging.getLogger(__name__)

FIRST_WAVE_SIZE = 5  # enough stores to see a systematic problem, few enough to fix by hand
HALT_FAILURE_RATE = Decimal("0.20")  # more than one store in five failing means stop and look
BATCH_SIZE = 100  # stores written per transaction: progress moves per batch, statements per batch
MAX_STORES = 5000
STALLED_AFTER = timedelta(minutes=5)  # a batch takes well under a second: five minutes idle is a dead worker


class JobRunning(NotAllowed):
    """Another job that writes is queued or running for the same partner and integration."""

    code = "bulk_job_running"
    http_status = 409

    def __init__(self, job: BulkJob):
        super().__init__(_("A bulk job for %(name)s is already running (job %(id)s); wait for it to finish.")
                         % {"name": job.definition.name, "id": job.pk}, extra={"job_id": job.pk})
        self.job = job


def running_job(partner: Partner, definition: IntegrationDefinition) -> BulkJob | None:
    return (BulkJob.objects.filter(partner=partner, definition=definition, dry_run=False,
                                   status__in=(BulkJobStatus.QUEUED, BulkJobStatus.RUNNING))
            .select_related("definition").first())


@transaction.atomic
def bulk_job_create(
    *, partner: Partner, action: str, merchant_ids: list[int], by, dry_run: bool,
    template: PartnerIntegrationTemplate | None = None, definition: IntegrationDefinition | None = None,
    first_wave_size: int = FIRST_WAVE_SIZE, halt_failure_rate: Decimal = HALT_FAILURE_RATE,
    dry_run_of: BulkJob | None = None, reenable_disconnected: bool = False,
) -> BulkJob:
    """Check everything, then write the job and its stores and queue it on commit. Refused before
    anything is written: an unknown action, a template or store of another partner, no stores,
    a wave or rate out of range, or a job that writes already running for the integration."""
    if action not in BulkAction.values:
        raise ValidationFailed(_("Unknown bulk action '%(action)s'.") % {"action": action},
                               field_errors={"action": [_("Unknown action.")]})
    if template is not None and template.partner_id != partner.pk:
        raise NotAllowed(_("That template belongs to another partner."), code="template_not_partner")
    if action == BulkAction.ENABLE and template is None:
        raise ValidationFailed(_("Choose the template to enable from."), field_errors={"template": [_("Required.")]})
    definition = template.definition if template is not None else definition
    if definition is None:
        raise ValidationFailed(_("Choose the integration."), field_errors={"definition": [_("Required.")]})
    ids = list(dict.fromkeys(int(merchant_id) for merchant_id in merchant_ids))
    if not ids:
        raise ValidationFailed(_("Choose at least one store."), field_errors={"merchants": [_("Required.")]})
    if len(ids) > MAX_STORES:
        raise ValidationFailed(_("A job covers at most %(count)s stores.") % {"count": MAX_STORES},
                               field_errors={"merchants": [_("Too many.")]})
    ours = set(Merchant.objects.filter(partner=partner, pk__in=ids).values_list("pk", flat=True))
    if len(ours) != len(ids):
        raise NotAllowed(_("%(count)s of the chosen stores are not %(partner)s's; nothing was started.")
                         % {"count": len(ids) - len(ours), "partner": partner.name}, code="stores_not_partner")
    if not 1 <= first_wave_size <= MAX_STORES:
        raise ValidationFailed(_("The first wave has at least one store."),
                               field_errors={"first_wave_size": [_("Too small.")]})
    if not Decimal(0) <= Decimal(halt_failure_rate) < Decimal(1):
        raise ValidationFailed(_("The halt threshold is a share from 0 to 0.99."),
                               field_errors={"halt_failure_rate": [_("Out of range.")]})
    if not dry_run and (running := running_job(partner, definition)) is not None:
        raise JobRunning(running)
    job = BulkJob(partner=partner, definition=definition, template=template, action=action, dry_run=dry_run,
                  reenable_disconnected=reenable_disconnected,
                  dry_run_of=dry_run_of, first_wave_size=first_wave_size, halt_failure_rate=halt_failure_rate,
                  total=len(ids), created_by=by if getattr(by, "is_authenticated", False) else None)
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # another job started between our check and our insert
        raise JobRunning(running_job(partner, definition)) from None
    # A dry run has no waves to halt between: every store is in the first.
    BulkJobStore.objects.bulk_create([
        BulkJobStore(job=job, merchant_id=merchant_id, wave=1 if dry_run or index < first_wave_size else 2)
        for index, merchant_id in enumerate(ids)
    ], batch_size=1000)
    logger.info("partner.bulk_job_created", extra={"job_id": job.pk, "action": action, "stores": len(ids),
                                                   "dry_run": dry_run})
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from partners.tasks import bulk_job_run

    bulk_job_run.delay(job_id)


CHANGES = (BulkOutcome.ENABLED, BulkOutcome.PAUSED, BulkOutcome.RESUMED)


def follow_up(job: BulkJob) -> tuple[str, list[int]] | None:
    """What a finished job proposes next, and for which stores: after a dry run, the rollout to the
    stores it would change; after a halt, the stores the job did not touch."""
    if job.dry_run and job.status == BulkJobStatus.DONE:
        ids = list(job.stores.filter(outcome__in=CHANGES).values_list("merchant_id", flat=True))
        label = ngettext("Roll out to the %(count)s store that would change",
                         "Roll out to the %(count)s stores that would change", len(ids))
        return (label % {"count": len(ids)}, ids) if ids else None
    if job.status == BulkJobStatus.HALTED:
        ids = list(job.stores.filter(outcome=BulkOutcome.PENDING).values_list("merchant_id", flat=True))
        label = ngettext("Carry on with the %(count)s store not yet touched",
                         "Carry on with the %(count)s stores not yet touched", len(ids))
        return (label % {"count": len(ids)}, ids) if ids else None
    return None


def bulk_job_follow_up(*, job: BulkJob, by) -> BulkJob:
    """Start what `follow_up` proposes, with the job's action, template, wave and threshold."""
    proposal = follow_up(job)
    if proposal is None:
        raise NotAllowed(_("This job has nothing to follow up: it is running, or it left no store to change."),
                         code="nothing_to_follow_up")
    return bulk_job_create(partner=job.partner, action=job.action, merchant_ids=proposal[1], by=by, dry_run=False,
                           template=job.template, definition=job.definition, first_wave_size=job.first_wave_size,
                           halt_failure_rate=job.halt_failure_rate, dry_run_of=job if job.dry_run else job.dry_run_of,
                           reenable_disconnected=job.reenable_disconnected)


def bulk_job_run(*, job_id: int) -> BulkJob | None:
    """Run (or carry on) a job: each wave's pending stores, batch by batch; halt after the first wave
    if too many of its stores failed. Idempotent: a finished job is left as it is."""
    now = timezone.now()
    started = BulkJob.objects.filter(pk=job_id, status__in=(BulkJobStatus.QUEUED, BulkJobStatus.RUNNING)).update(
        status=BulkJobStatus.RUNNING, started_at=now, progressed_at=now)
    if not started:
        return None
    job = BulkJob.objects.select_related("definition", "template", "created_by").get(pk=job_id)
    for wave in (1, 2):
        while _run_batch(job, wave):
            pass
        if wave == 1 and not job.dry_run and _first_wave_failed_too_often(job):
            BulkJob.objects.filter(pk=job.pk).update(status=BulkJobStatus.HALTED, finished_at=timezone.now())
            logger.info("partner.bulk_job_halted", extra={"job_id": job.pk})
            return BulkJob.objects.get(pk=job.pk)
    BulkJob.objects.filter(pk=job.pk).update(status=BulkJobStatus.DONE, finished_at=timezone.now())
    logger.info("partner.bulk_job_done", extra={"job_id": job.pk})
    return BulkJob.objects.get(pk=job.pk)


def bulk_jobs_resume_stalled() -> int:
    """Queue again every job left queued or running with no batch for `STALLED_AFTER` (its worker
    died, or its message was lost). A run that was only slow loses nothing: batches lock their stores."""
    stalled_before = timezone.now() - STALLED_AFTER
    stalled = list(BulkJob.objects.filter(status__in=(BulkJobStatus.QUEUED, BulkJobStatus.RUNNING))
                   .filter(Q(progressed_at__lt=stalled_before) | Q(progressed_at__isnull=True,
                                                                   created_at__lt=stalled_before))
                   .values_list("pk", flat=True))
    for job_id in stalled:
        BulkJob.objects.filter(pk=job_id).update(progressed_at=timezone.now())  # one resend per stall
        _enqueue(job_id)
    if stalled:
        logger.warning("partner.bulk_jobs_resumed", extra={"jobs": stalled})
    return len(stalled)


def _first_wave_failed_too_often(job: BulkJob) -> bool:
    counts = job.stores.filter(wave=1).aggregate(total=Count("id"), failed=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)))
    return bool(counts["total"]) and Decimal(counts["failed"]) / counts["total"] > job.halt_failure_rate


def _run_batch(job: BulkJob, wave: int) -> bool:
    """One batch of the wave's pending stores, written with its outcomes and the job's progress in
    one transaction. False when the wave has none left."""
    with transaction.atomic():
        batch = list(job.stores.select_for_update(skip_locked=True).filter(wave=wave, outcome=BulkOutcome.PENDING)
                     .select_related("merchant")[:BATCH_SIZE])
        if not batch:
            return False
        try:
            with transaction.atomic():
                results = ACTIONS[job.action](job, [store.merchant for store in batch])
        except IntegrityError:
            # A store changed under us (say, enabled by hand a moment ago): one by one, so only it fails.
            results = {}
            for store in batch:
                try:
                    with transaction.atomic():
                        results |= ACTIONS[job.action](job, [store.merchant])
                except IntegrityError:
                    results[store.merchant_id] = (BulkOutcome.FAILED, {"reason": CHANGED_MEANWHILE})
        now = timezone.now()
        for store in batch:
            store.outcome, store.message_params = results[store.merchant_id]
            store.processed_at = now
        BulkJobStore.objects.bulk_update(batch, ["outcome", "message_params", "processed_at"])
        BulkJob.objects.filter(pk=job.pk).update(
            progressed_at=now, processed=F("processed") + len(batch),
            failed=F("failed") + sum(store.outcome in FAILED_OUTCOMES for store in batch))
    return True


# A store's result: its outcome code and the parameters of its detail (`BulkJobStore.message_params`).
Result = tuple[str, dict]


def _enable(job: BulkJob, merchants: list[Merchant]) -> dict[int, Result]:
    outcomes = enabling.merchant_integrations_enable_many(
        merchants=merchants, definition=job.definition, template=job.template, by=job.created_by, dry_run=job.dry_run,
        reenable_disconnected=job.reenable_disconnected)
    return {merchant_id: (outcome.code, outcome.params) for merchant_id, outcome in outcomes.items()}


def _each_installation(service, done: str, can_from: tuple[str, ...]):
    """Pause or resume: every installation of the job's definition at the store, through the lifecycle."""

    def run(job: BulkJob, merchants: list[Merchant]) -> dict[int, Result]:
        installs: dict[int, list[MerchantIntegration]] = {merchant.pk: [] for merchant in merchants}
        for install in MerchantIntegration.objects.filter(definition=job.definition, merchant__in=merchants) \
                .select_related("definition", "merchant", "location"):
            installs[install.merchant_id].append(install)
        results = {}
        for merchant in merchants:
            targets = [install for install in installs[merchant.pk] if install.status in can_from]
            if not targets:
                statuses = sorted({install.status for install in installs[merchant.pk]})
                results[merchant.pk] = (BulkOutcome.NOTHING_TO_DO, {"statuses": statuses})
                continue
            try:
                for install in targets:
                    with transaction.atomic():
                        service(integration=install, by=job.created_by)
                        # A dry run asks the lifecycle and rolls its answer back (on-commit work included).
                        transaction.set_rollback(job.dry_run)
                results[merchant.pk] = (done, {})
            except ApplicationError as error:
                # Its code, not its message: the message is in the language of whoever ran the job.
                results[merchant.pk] = (BulkOutcome.FAILED, {"reason": error.code})
        return results

    return run


ACTIONS = {
    BulkAction.ENABLE: _enable,
    BulkAction.PAUSE: _each_installation(transitions.merchant_integration_pause, BulkOutcome.PAUSED,
                                         (Status.ACTIVE, Status.ERROR)),
    BulkAction.RESUME: _each_installation(transitions.merchant_integration_resume, BulkOutcome.RESUMED,
                                          (Status.PAUSED,)),
}

"""Bulk jobs run through the service the worker runs (the worker itself: test_bulk_worker.py)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import IntegrationDefinition, IntegrationStatusTransition, MerchantIntegration, Status
from partners.models import BulkAction, BulkJob, BulkJobStatus, BulkOutcome, PartnerIntegrationTemplate
from partners.services import bulk
from qiiub.errors import NotAllowed, ValidationFailed
from tests.partners.conftest import add_stores


def outcomes(job: BulkJob) -> dict[str, str]:
    return dict(job.stores.values_list("merchant__slug", "outcome"))


def run(job: BulkJob) -> BulkJob:
    return bulk.bulk_job_run(job_id=job.pk)


def test_a_dry_run_tells_each_store_what_enabling_would_do_and_changes_nothing(personas, relay_template):
    # given stores that would enable, lack the module, are retail, have no location, or have it already
    ready = add_stores(personas.partner, 2, prefix="ready", modules=["pharmacy.rx"], locations=2)
    bare = add_stores(personas.partner, 1, prefix="bare", locations=1)
    shop = add_stores(personas.partner, 1, prefix="shop", vertical="retail", modules=["pharmacy.rx"], locations=1)
    empty = add_stores(personas.partner, 1, prefix="empty", modules=["pharmacy.rx"])
    done = add_stores(personas.partner, 1, prefix="done", modules=["pharmacy.rx"], locations=1)
    bulk.bulk_job_run(job_id=bulk.bulk_job_create(
        partner=personas.partner, action=BulkAction.ENABLE, template=relay_template, merchant_ids=[done[0].pk],
        by=personas.partner_admin, dry_run=False).pk)
    installs_before = MerchantIntegration.objects.count()

    # when
    job = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=relay_template,
                                   merchant_ids=[m.pk for m in ready + bare + shop + empty + done],
                                   by=personas.partner_admin, dry_run=True))

    # then
    assert job.status == BulkJobStatus.DONE and job.processed == 6 and job.failed == 3
    assert outcomes(job) == {"ready-000": "enabled", "ready-001": "enabled", "bare-000": "missing_module",
                             "shop-000": "wrong_vertical", "empty-000": "no_location", "done-000": "already_enabled"}
    assert "needs the module 'pharmacy.rx'" in job.stores.get(merchant=bare[0]).message
    assert "at 2 location(s)" in job.stores.get(merchant=ready[0]).message
    assert MerchantIntegration.objects.count() == installs_before


def test_a_rollout_enables_the_first_wave_then_the_rest_copying_the_template(personas):
    # given the partner's default QuickBooks template and twelve stores without QuickBooks
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    merchants = add_stores(personas.partner, 12, prefix="new")

    # when
    job = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                                   merchant_ids=[m.pk for m in merchants], by=personas.partner_admin, dry_run=False,
                                   first_wave_size=5))

    # then
    assert job.status == BulkJobStatus.DONE and job.processed == 12 and job.failed == 0
    assert list(job.stores.values_list("wave", flat=True)) == [1] * 5 + [2] * 7
    installs = MerchantIntegration.objects.filter(merchant__in=merchants)
    assert installs.count() == 12 and {i.status for i in installs} == {Status.CONFIGURING}
    assert all(i.configuration == {"posting": "journal_entry"} for i in installs)
    assert all(i.mappings.count() == len(template.default_mappings) for i in installs)
    audit = IntegrationStatusTransition.objects.filter(merchant_integration__in=installs)
    assert audit.count() == 12 and {(a.reason, a.actor_id) for a in audit} == {
        (f"Enabled from the template “{template.name}”", personas.partner_admin.pk)}


def test_a_rollout_halts_when_its_first_wave_fails_too_often_and_leaves_the_rest_untouched(personas, relay_template):
    # given a first wave of five where two stores lack the module (40 % > 20 %)
    bare = add_stores(personas.partner, 2, prefix="bare", locations=1)
    ready = add_stores(personas.partner, 8, prefix="ready", modules=["pharmacy.rx"], locations=1)
    ids = [m.pk for m in bare + ready]

    # when
    job = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=relay_template,
                                   merchant_ids=ids, by=personas.partner_admin, dry_run=False, first_wave_size=5))

    # then
    assert job.status == BulkJobStatus.HALTED and "2 of the first 5 stores failed" in job.halted_reason
    assert MerchantIntegration.objects.filter(merchant__in=ready).count() == 3  # only the first wave's
    assert job.stores.filter(outcome=BulkOutcome.PENDING).count() == 5

    # and the partner can carry on with the five untouched stores
    label, pending = bulk.follow_up(job)
    assert label.startswith("Carry on with the 5 stores not yet touched")
    follow = run(bulk.bulk_job_follow_up(job=job, by=personas.partner_admin))
    assert follow.status == BulkJobStatus.DONE and MerchantIntegration.objects.filter(merchant__in=ready).count() == 8


def test_a_finished_dry_run_rolls_out_to_the_stores_that_would_change(personas, relay_template):
    bare = add_stores(personas.partner, 1, prefix="bare", locations=1)
    ready = add_stores(personas.partner, 3, prefix="ready", modules=["pharmacy.rx"], locations=1)
    dry = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=relay_template,
                                   merchant_ids=[m.pk for m in bare + ready], by=personas.partner_admin, dry_run=True))

    rollout = run(bulk.bulk_job_follow_up(job=dry, by=personas.partner_admin))

    assert rollout.dry_run_of == dry and rollout.total == 3 and rollout.status == BulkJobStatus.DONE
    assert set(outcomes(rollout).values()) == {"enabled"}


def _queries_to_enable(personas, template, stores: int, prefix: str) -> int:
    merchants = add_stores(personas.partner, stores, prefix=prefix)
    job = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                               merchant_ids=[m.pk for m in merchants], by=personas.partner_admin, dry_run=False,
                               first_wave_size=5)
    with CaptureQueriesContext(connection) as queries:
        assert run(job).status == BulkJobStatus.DONE
    return len(queries)


def test_statements_grow_with_batches_not_with_stores(personas):
    # 10 stores: two batches (the first wave, the rest); 110 stores: three; 210: four
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    small, medium, large = (_queries_to_enable(personas, template, count, prefix)
                            for count, prefix in ((10, "small"), (110, "medium"), (210, "large")))
    assert large - medium == medium - small  # one more batch, the same statements again
    assert large < 4 * small


@pytest.mark.security
def test_a_job_over_another_partners_stores_is_refused_before_anything_is_written(personas, other_partner):
    theirs = add_stores(other_partner, 1, prefix="theirs")
    ours = add_stores(personas.partner, 1, prefix="ours")
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)

    with pytest.raises(NotAllowed, match="1 of the chosen stores are not PharmaTech's"):
        bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                             merchant_ids=[ours[0].pk, theirs[0].pk], by=personas.partner_admin, dry_run=False)

    assert not BulkJob.objects.exists()


@pytest.mark.security
def test_a_template_of_another_partner_cannot_drive_a_job(personas, other_partner):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    theirs = add_stores(other_partner, 1, prefix="theirs")
    with pytest.raises(NotAllowed, match="another partner"):
        bulk.bulk_job_create(partner=other_partner, action=BulkAction.ENABLE, template=template,
                             merchant_ids=[theirs[0].pk], by=None, dry_run=False)
    assert not BulkJob.objects.exists()


def test_a_second_job_on_the_same_integration_while_one_runs_is_refused_naming_it(personas):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    merchants = add_stores(personas.partner, 3, prefix="busy")
    first = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                                 merchant_ids=[m.pk for m in merchants], by=personas.partner_admin, dry_run=False)

    with pytest.raises(bulk.JobRunning, match=f"already running \\(job {first.pk}\\)") as refused:
        bulk.bulk_job_create(partner=personas.partner, action=BulkAction.PAUSE, definition=template.definition,
                             merchant_ids=[merchants[0].pk], by=personas.partner_admin, dry_run=False)

    assert refused.value.job == first and BulkJob.objects.count() == 1
    # a dry run changes nothing, so it may still be made
    bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                         merchant_ids=[merchants[0].pk], by=personas.partner_admin, dry_run=True)


@pytest.mark.parametrize("change, message", [
    ({"merchant_ids": []}, "at least one store"),
    ({"action": "delete"}, "Unknown bulk action"),
    ({"first_wave_size": 0}, "at least one store"),
    ({"halt_failure_rate": Decimal("1.5")}, "from 0 to 0.99"),
])
def test_a_job_with_bad_input_is_refused_and_nothing_is_written(personas, change, message):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    arguments = {"partner": personas.partner, "action": BulkAction.ENABLE, "template": template,
                 "merchant_ids": [personas.san_juan.pk], "by": personas.partner_admin, "dry_run": False} | change
    with pytest.raises(ValidationFailed, match=message):
        bulk.bulk_job_create(**arguments)
    assert not BulkJob.objects.exists()


def _active_quickbooks(merchants):
    definition = IntegrationDefinition.objects.get(code="accounting.quickbooks_online")
    return MerchantIntegration.objects.bulk_create([
        MerchantIntegration(merchant=m, definition=definition, status=Status.ACTIVE, last_test_ok=True)
        for m in merchants])


def test_bulk_pause_then_resume_goes_through_the_lifecycle_store_by_store(personas):
    merchants = add_stores(personas.partner, 3, prefix="live")
    installs = _active_quickbooks(merchants)
    MerchantIntegration.objects.filter(pk=installs[2].pk).update(status=Status.CONFIGURING)
    definition = installs[0].definition

    dry = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.PAUSE, definition=definition,
                                   merchant_ids=[m.pk for m in merchants], by=personas.partner_admin, dry_run=True))
    assert outcomes(dry) == {"live-000": "paused", "live-001": "paused", "live-002": "nothing_to_do"}
    assert MerchantIntegration.objects.filter(pk__in=[i.pk for i in installs], status=Status.ACTIVE).count() == 2

    paused = run(bulk.bulk_job_follow_up(job=dry, by=personas.partner_admin))
    assert paused.total == 2 and set(outcomes(paused).values()) == {"paused"}
    assert MerchantIntegration.objects.filter(pk__in=[i.pk for i in installs], status=Status.PAUSED).count() == 2

    MerchantIntegration.objects.filter(pk=installs[1].pk).update(paused_reason="forced")  # QIIUB operations' pause
    resumed = run(bulk.bulk_job_create(partner=personas.partner, action=BulkAction.RESUME, definition=definition,
                                       merchant_ids=[m.pk for m in merchants], by=personas.partner_admin,
                                       dry_run=False, first_wave_size=3, halt_failure_rate=Decimal("0.5")))
    assert outcomes(resumed) == {"live-000": "resumed", "live-001": "failed", "live-002": "nothing_to_do"}
    assert "only they can resume it" in resumed.stores.get(merchant=merchants[1]).message
    assert MerchantIntegration.objects.get(pk=installs[0].pk).status == Status.ACTIVE
    assert IntegrationStatusTransition.objects.filter(merchant_integration=installs[0]).count() == 2

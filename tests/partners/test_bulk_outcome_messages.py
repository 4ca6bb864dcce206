"""A bulk job's outcomes are stored as codes with parameters and read in the reader's language: a
partner admin who chose Spanish reads them in Spanish, one who chose English in English, and rows
stored as English sentences before are turned into codes that read the same."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from integrations.models import DefinitionStatus, IntegrationDefinition, MerchantIntegration, PausedReason, Status
from merchants.models import Merchant, Role
from merchants.services import membership_grant, user_language_set
from partners.models import BulkAction, BulkJob, BulkJobStore, PartnerIntegrationTemplate
from partners.services import bulk
from tests.partners.conftest import add_stores

MIGRATION = importlib.import_module("partners.migrations.0004_bulk_outcome_params")

FORCED_PAUSE = {"en": "QIIUB operations paused this integration; only they can resume it.",
                "es": "El equipo de operaciones de QIIUB pausó esta integración; solo ese equipo puede reanudarla."}
STILL_CONFIGURING = {"en": "QuickBooks Online is configuring here.",
                     "es": "Estado de QuickBooks Online en esta tienda: en configuración."}
HALTED = {"en": "1 of the first 2 stores failed (more than 20%); the other stores were not touched.",
          "es": "Tiendas con fallos: 1 de las primeras 2 (más del 20%); las demás no se tocaron."}
WOULD_ENABLE = {"en": "QuickBooks Online would be enabled; the store signs in to activate it.",
                "es": "QuickBooks Online quedaría habilitada; la tienda entraría a su cuenta para activarla."}


def _halted_resume(personas) -> BulkJob:
    """A resume over three stores: QIIUB operations paused the first's QuickBooks, the second's is
    still being configured. Half the first wave of two failed, so the job halts before the third."""
    stores = add_stores(personas.partner, 3, prefix="tienda")
    quickbooks = IntegrationDefinition.objects.get(code="accounting.quickbooks_online")
    MerchantIntegration.objects.bulk_create([
        MerchantIntegration(merchant=stores[0], definition=quickbooks, status=Status.PAUSED,
                            paused_reason=PausedReason.FORCED),
        MerchantIntegration(merchant=stores[1], definition=quickbooks, status=Status.CONFIGURING)])
    return bulk.bulk_job_run(job_id=bulk.bulk_job_create(
        partner=personas.partner, action=BulkAction.RESUME, definition=quickbooks,
        merchant_ids=[store.pk for store in stores], by=personas.partner_admin, dry_run=False, first_wave_size=2).pk)


def _stored(job: BulkJob) -> dict[str, tuple[str, dict]]:
    return {slug: (outcome, params) for slug, outcome, params in
            job.stores.values_list("merchant__slug", "outcome", "message_params")}


def _read(job: BulkJob) -> dict[str, str]:
    return {store.merchant.slug: store.message for store in job.stores.select_related("merchant")}


def test_a_spanish_speaking_partner_admin_reads_the_bulk_outcomes_in_spanish(client, personas):
    # given a halted resume, a dry run that would enable QuickBooks, and a second admin of the partner
    # who chose Spanish
    halted = _halted_resume(personas)
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    dry_run = bulk.bulk_job_run(job_id=bulk.bulk_job_create(
        partner=personas.partner, action=BulkAction.ENABLE, template=template,
        merchant_ids=[add_stores(personas.partner, 1, prefix="nueva")[0].pk], by=personas.partner_admin,
        dry_run=True).pk)
    spanish = get_user_model().objects.create_user("pharmatech-es", "es@pharmatech.local", "x")
    membership_grant(user=spanish, role=Role.PARTNER_ADMIN, partner=personas.partner)
    user_language_set(user=spanish, language="es")

    for language, user in (("es", spanish), ("en", personas.partner_admin)):
        other = "en" if language == "es" else "es"

        # when each admin opens the jobs
        client.force_login(user)
        pages = [client.get(reverse("portal:bulk-job", args=[personas.partner.slug, job.pk]))
                 for job in (halted, dry_run)]

        # then each store's detail and why the job halted are in their language, and only in it
        assert [page.headers["Content-Language"] for page in pages] == [language, language]
        text = "".join(page.content.decode() for page in pages)
        for sentence in (FORCED_PAUSE, STILL_CONFIGURING, HALTED, WOULD_ENABLE):
            assert sentence[language] in text and sentence[other] not in text


def test_a_store_outcome_is_stored_as_a_code_and_parameters_never_as_a_sentence(personas, rx30_template):
    # given Rx30 available, and stores that would enable it at two locations, lack the module, are
    # retail, or have no location
    rx30 = IntegrationDefinition.objects.filter(pk=rx30_template.definition_id)
    rx30.update(status=DefinitionStatus.AVAILABLE)
    stores = [add_stores(personas.partner, 1, prefix="ready", modules=["pharmacy.rx"], locations=2)[0],
              add_stores(personas.partner, 1, prefix="bare", locations=1)[0],
              add_stores(personas.partner, 1, prefix="shop", vertical="retail", modules=["pharmacy.rx"], locations=1)[0],
              add_stores(personas.partner, 1, prefix="empty", modules=["pharmacy.rx"])[0]]

    # when a dry run enables it, another once it is deprecated, and a resume halts
    def dry_run(merchants) -> BulkJob:
        return bulk.bulk_job_run(job_id=bulk.bulk_job_create(
            partner=personas.partner, action=BulkAction.ENABLE, template=rx30_template,
            merchant_ids=[merchant.pk for merchant in merchants], by=personas.partner_admin, dry_run=True).pk)

    enabled = dry_run(stores)
    rx30.update(status=DefinitionStatus.DEPRECATED)
    deprecated = dry_run(stores[:1])
    resumed = _halted_resume(personas)

    # then each store holds its outcome's code and the parameters its detail names: codes and counts
    assert {field.name for field in BulkJobStore._meta.concrete_fields} == {
        "id", "job", "merchant", "wave", "outcome", "message_params", "processed_at"}
    assert "halted_reason" not in {field.name for field in BulkJob._meta.concrete_fields}
    assert _stored(enabled) == {"ready-000": ("enabled", {"locations": 2}),
                                "bare-000": ("missing_module", {"module": "pharmacy.rx"}),
                                "shop-000": ("wrong_vertical", {"vertical": "pharmacy"}),
                                "empty-000": ("no_location", {})}
    assert _stored(deprecated) == {"ready-000": ("not_available", {"reason": "deprecated"})}
    assert _stored(resumed) == {"tienda-000": ("failed", {"reason": "forced_pause"}),
                                "tienda-001": ("nothing_to_do", {"statuses": ["configuring"]}),
                                "tienda-002": ("pending", {})}

    # and they read as the sentences that used to be stored
    assert _read(enabled) == {
        "ready-000": "Rx30 would be enabled at 2 location(s); the store signs in to activate it.",
        "bare-000": "Rx30 needs the module 'pharmacy.rx', which is not active.",
        "shop-000": "Rx30 is only for pharmacy merchants.",
        "empty-000": "Rx30 is set up per location, and Empty 000 has no location yet."}
    assert _read(deprecated) == {"ready-000": "Rx30 is deprecated and can no longer be enabled."}
    assert _read(resumed) == {"tienda-000": FORCED_PAUSE["en"], "tienda-001": STILL_CONFIGURING["en"], "tienda-002": ""}
    assert resumed.halted_reason == HALTED["en"]


def _store(outcome: str, params: dict, *, dry_run: bool = False) -> BulkJobStore:
    job = BulkJob(definition=IntegrationDefinition(name="Rx30"), dry_run=dry_run)
    return BulkJobStore(job=job, merchant=Merchant(name="Empty 000"), outcome=outcome, message_params=params)


@pytest.mark.parametrize("outcome, sentence, dry_run", [
    ("enabled", "Rx30 would be enabled at 2 location(s); the store signs in to activate it.", True),
    ("enabled", "Rx30 enabled at 1 location(s); the store signs in to activate it.", False),
    ("enabled", "Rx30 enabled; the store signs in to activate it.", False),
    ("already_enabled", "Rx30 is already enabled.", False),
    ("not_available", "Rx30 is planned and not available yet.", False),
    ("not_available", "Rx30 is deprecated and can no longer be enabled.", False),
    ("wrong_vertical", "Rx30 is only for pharmacy merchants.", False),
    ("missing_module", "Rx30 needs the module 'pharmacy.rx', which is not active.", False),
    ("no_location", "Rx30 is set up per location, and Empty 000 has no location yet.", False),
    ("nothing_to_do", "Rx30 is configuring, paused here.", False),
    ("nothing_to_do", "Rx30 is not enabled here.", False),
    ("failed", "Changed while the job ran; run it again.", False),
    ("failed", "QIIUB operations paused this integration; only they can resume it.", False),
    ("failed", "Fix the cause (credentials or configuration) and test the connection before resuming.", False),
    ("paused", "", False),
])
def test_the_migration_turns_each_stored_sentence_into_parameters_that_read_the_same(outcome, sentence, dry_run):
    params = MIGRATION.params_from_message(outcome, sentence, definition=None)

    assert _store(outcome, params, dry_run=dry_run).message == sentence


@pytest.mark.parametrize("outcome, sentence, params, reads", [
    ("schema_error", "The configuration is not valid: server_port: Must be a whole number.", {},
     "The configuration for Rx30 is not valid: fix the template (or the configuration the store kept) and run the "
     "job again."),
    ("failed", "Only a paused integration can be resumed; this one is active.", {"reason": "invalid_transition"},
     "Changed while the job ran; run it again."),
    ("failed", "There is no setting 'x'.", {}, "The change was refused."),
])
def test_the_migration_keeps_the_outcome_of_a_sentence_whose_details_were_sentences(outcome, sentence, params, reads):
    assert MIGRATION.params_from_message(outcome, sentence, definition=None) == params
    assert _store(outcome, params).message == reads

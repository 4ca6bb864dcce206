"""Enabling integrations: who may enable which definition, where, and the enabling itself, for
one merchant or for many at once (a partner's bulk job), both through the one transition writer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.models import (
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationMapping,
    IntegrationStatusTransition,
    MerchantIntegration,
    Scope,
    Status,
)
from integrations.services.transitions import transition_write, transitions_write
from merchants.models import Location, Merchant, Vertical
from qiiub.errors import NotAllowed
from qiiub.messages import Message
from qiiub.schemas import partial_schema_errors, with_schema_defaults

logger = logging.getLogger(__name__)


def _refusal(definition: IntegrationDefinition, *, vertical: str, has_module: bool) -> tuple[str, dict, str] | None:
    """(code, parameters, message) saying why a merchant of `vertical` may not enable `definition`, or None.
    The parameters are what the message names beyond the definition, for whoever stores the refusal."""
    names = {"name": definition.name}
    if definition.status == DefinitionStatus.PLANNED:
        return "not_available", {"reason": "planned"}, _("%(name)s is planned and not available yet.") % names
    if definition.status == DefinitionStatus.DEPRECATED:
        return "not_available", {"reason": "deprecated"}, _(
            "%(name)s is deprecated and can no longer be enabled.") % names
    if definition.scope == Scope.VERTICAL and definition.vertical_affinity != vertical:
        params = {"vertical": definition.vertical_affinity}
        if definition.vertical_affinity == Vertical.PHARMACY:
            return "wrong_vertical", params, _("%(name)s is only for pharmacy merchants.") % names
        if definition.vertical_affinity == Vertical.RETAIL:
            return "wrong_vertical", params, _("%(name)s is only for retail merchants.") % names
        return "wrong_vertical", params, _("%(name)s is only for %(vertical)s merchants.") % {**names, **params}
    if definition.required_module_id and not has_module:
        params = {"module": definition.required_module.code}
        return "missing_module", params, _("%(name)s needs the module '%(module)s', which is not active.") % {
            **names, **params}
    return None


def definition_refusal(*, merchant: Merchant, definition: IntegrationDefinition) -> str | None:
    """Why `merchant` may not enable `definition` anywhere (None when it may): status, vertical, module."""
    has_module = not definition.required_module_id or merchant.modules.filter(pk=definition.required_module_id).exists()
    refusal = _refusal(definition, vertical=merchant.vertical, has_module=has_module)
    return refusal[2] if refusal else None


def enable_refusal(
    *, merchant: Merchant, definition: IntegrationDefinition, location: Location | None = None
) -> str | None:
    """`definition_refusal`, plus where: a location of this merchant, required for per-location ones."""
    if refusal := definition_refusal(merchant=merchant, definition=definition):
        return refusal
    if location is not None and location.merchant_id != merchant.pk:
        return _("That location belongs to another merchant.")
    if definition.per_location and location is None:
        return _("%(name)s is set up per location: choose a location.") % {"name": definition.name}
    if not definition.per_location and location is not None:
        # One merchant-wide installation only: a second, per-location one could post the same sales twice.
        return _("%(name)s is set up once for all locations, not per location.") % {"name": definition.name}
    return None


@transaction.atomic
def merchant_integration_enable(
    *,
    merchant: Merchant,
    definition: IntegrationDefinition,
    location: Location | None = None,
    by: AbstractBaseUser | None,
) -> MerchantIntegration:
    """Enable a definition: copy the partner's default template in and start configuring."""
    if refusal := enable_refusal(merchant=merchant, definition=definition, location=location):
        raise NotAllowed(refusal)
    existing = (
        MerchantIntegration.objects.select_for_update()
        .filter(merchant=merchant, definition=definition, location=location)
        .first()
    )
    if existing is not None and existing.status != Status.DISCONNECTED:
        if location is not None:
            message = _("%(name)s is already enabled at %(location)s.") % {
                "name": definition.name, "location": location.name}
        else:
            message = _("%(name)s is already enabled for this merchant.") % {"name": definition.name}
        raise NotAllowed(message, code="already_enabled")
    if existing is not None:
        # Re-enabling: the kept configuration, mappings and watermark carry on.
        transition_write(existing, Status.CONFIGURING, by=by, reason=Message("reenabled"))
        return existing

    template = _default_template(merchant, definition)
    configuration = with_schema_defaults(
        definition.configuration_schema, template.default_configuration if template else {}
    )
    integration = MerchantIntegration(
        merchant=merchant, location=location, definition=definition, configuration=configuration
    )
    try:
        with transaction.atomic():
            transition_write(integration, Status.CONFIGURING, by=by, reason=_enable_reason(template))
    except IntegrityError:
        # Another request enabled it between our check and our insert (the unique constraint caught it).
        raise NotAllowed(_("%(name)s is already enabled.") % {"name": definition.name},
                         code="already_enabled") from None
    IntegrationMapping.objects.bulk_create(_template_mappings(template, [integration]))
    return integration


def _enable_reason(template) -> Message:
    return Message("enabled_from_template", {"template": template.name}) if template else Message("enabled")


def _template_mappings(template, integrations: list[MerchantIntegration]) -> list[IntegrationMapping]:
    """The template's default mappings, copied for each new installation."""
    rows = template.default_mappings if template else []
    return [
        IntegrationMapping(
            merchant_integration=integration,
            map_group=row["map_group"],
            source_code=row["source_code"],
            target_code=row["target_code"],
            source_entity_type=row.get("source_entity_type", ""),
            target_entity_type=row.get("target_entity_type", ""),
        )
        for integration in integrations for row in rows
    ]


@dataclass(frozen=True)
class EnableOutcome:
    """What enabling a definition does (or would do) for one merchant of a bulk job: a code and the
    parameters its message names, stored by the job and read later in the reader's language."""

    code: str  # enabled, already_enabled, not_available, wrong_vertical, missing_module, no_location, schema_error
    params: dict = field(default_factory=dict)  # {"reason"}, {"vertical"}, {"module"}, {"locations"} or {}

    @property
    def enables(self) -> bool:
        return self.code == "enabled"


def merchant_integrations_enable_many(
    *, merchants: list[Merchant], definition: IntegrationDefinition, template, by: AbstractBaseUser | None,
    dry_run: bool, reenable_disconnected: bool = False,
) -> dict[int, EnableOutcome]:
    """Enable `definition` for many merchants from `template` with the same rules as
    `merchant_integration_enable`, in a fixed number of statements however many merchants: per
    merchant, a refusal (vertical, module, availability), already enabled, a configuration the
    schema refuses (the template's, or the kept one of a disconnected installation), or enabled
    (every location, for a per-location definition). What a store disconnected on purpose is skipped
    (with the day it did) unless `reenable_disconnected`. A dry run writes nothing."""
    schema = definition.configuration_schema
    template_configuration = with_schema_defaults(schema, template.default_configuration if template else {})
    template_problems = partial_schema_errors(schema, template_configuration)
    ids = [merchant.pk for merchant in merchants]
    with_module = set(Merchant.modules.through.objects.filter(
        merchant_id__in=ids, module_id=definition.required_module_id).values_list("merchant_id", flat=True)
    ) if definition.required_module_id else set(ids)
    places: dict[int, list[int | None]] = {merchant_id: [] if definition.per_location else [None] for merchant_id in ids}
    if definition.per_location:
        for merchant_id, location_id in Location.objects.filter(merchant_id__in=ids).values_list("merchant_id", "pk"):
            places[merchant_id].append(location_id)
    existing = {
        (row.merchant_id, row.location_id): row
        for row in MerchantIntegration.objects.select_for_update(of=("self",), no_key=True)
        .filter(definition=definition, merchant_id__in=ids)
    }
    disconnected_at = {} if reenable_disconnected else _disconnected_at(
        [row.pk for row in existing.values() if row.status == Status.DISCONNECTED])
    outcomes: dict[int, EnableOutcome] = {}
    new: list[MerchantIntegration] = []
    reenabled: list[MerchantIntegration] = []
    for merchant in merchants:
        if refusal := _refusal(definition, vertical=merchant.vertical, has_module=merchant.pk in with_module):
            outcomes[merchant.pk] = EnableOutcome(*refusal[:2])
            continue
        if not places[merchant.pk]:
            outcomes[merchant.pk] = EnableOutcome("no_location")
            continue
        kept = {location_id: existing.get((merchant.pk, location_id)) for location_id in places[merchant.pk]}
        fresh = [location_id for location_id, row in kept.items() if row is None]
        back = [row for row in kept.values() if row is not None and row.status == Status.DISCONNECTED]
        if not fresh and not back:
            outcomes[merchant.pk] = EnableOutcome("already_enabled")
            continue
        if back and not reenable_disconnected:
            if not fresh:
                when = max(disconnected_at.get(row.pk) or timezone.now() for row in back)
                day = timezone.localdate(when, ZoneInfo(merchant.time_zone))  # the store's day
                outcomes[merchant.pk] = EnableOutcome("store_disconnected", {"on": day.isoformat()})
                continue
            back = []
        problems = (template_problems if fresh else {}) | {
            path: messages for row in back for path, messages in partial_schema_errors(schema, row.configuration).items()}
        if problems:
            outcomes[merchant.pk] = EnableOutcome("schema_error")
            continue
        outcomes[merchant.pk] = EnableOutcome(
            "enabled", {"locations": len(fresh) + len(back)} if definition.per_location else {})
        new += [MerchantIntegration(merchant=merchant, location_id=location_id, definition=definition,
                                    configuration=template_configuration)
                for location_id in fresh]
        reenabled += back
    if dry_run:
        return outcomes
    transitions_write(new, Status.CONFIGURING, by=by, reason=_enable_reason(template))
    transitions_write(reenabled, Status.CONFIGURING, by=by, reason=Message("reenabled"))
    IntegrationMapping.objects.bulk_create(_template_mappings(template, new))
    logger.info("integration.enabled_many", extra={"definition": definition.code, "installed": len(new),
                                                   "reenabled": len(reenabled)})
    return outcomes


def _disconnected_at(integration_ids: list[int]) -> dict[int, datetime]:
    """When each of these disconnected installations was disconnected (its last such move)."""
    return dict(IntegrationStatusTransition.objects
                .filter(merchant_integration_id__in=integration_ids, to_status=Status.DISCONNECTED)
                .order_by("merchant_integration_id", "created_at")
                .values_list("merchant_integration_id", "created_at"))


def _default_template(merchant: Merchant, definition: IntegrationDefinition):
    if merchant.partner_id is None:
        return None
    return definition.partner_templates.filter(partner_id=merchant.partner_id, is_default=True).first()


@transaction.atomic
def definition_deprecate(*, definition: IntegrationDefinition, by: AbstractBaseUser) -> IntegrationDefinition:
    """No new installations; existing ones keep running until their merchants move off."""
    definition.status = DefinitionStatus.DEPRECATED
    definition.save(update_fields=["status", "updated_at"])
    logger.info("integration.definition_deprecated", extra={"definition": definition.code, "by": by.pk})
    return definition

"""Partner integration templates: a partner's default configuration and mappings for one
definition, copied into a store's integration when it is enabled. One template per definition may be
the default, which enabling applies on its own."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from integrations.models import DefinitionStatus, IntegrationDefinition
from integrations.services.mappings import mapping_checked, mapping_codes
from partners.models import Partner, PartnerIntegrationTemplate
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotAllowed, ValidationFailed
from qiiub.schemas import partial_schema_errors

logger = logging.getLogger(__name__)
MAX_NAME = 200


def template_definitions():
    """The definitions a partner can make templates for: those its stores could enable."""
    return IntegrationDefinition.objects.exclude(status__in=(DefinitionStatus.PLANNED, DefinitionStatus.DEPRECATED))


def template_checked(
    *, definition: IntegrationDefinition, name: str, configuration: dict, mappings: list[dict]
) -> tuple[str, list[dict]]:
    """The one check for a template, from the portal or the admin: a name, a configuration the
    definition's schema accepts (fields each store fills in may be left out), mappings only where the
    integration uses them, each row valid, and no card data anywhere. Returns the name and the rows
    as stored."""
    ensure_no_card_data({"name": name})
    ensure_no_card_data(configuration)
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(_("Give the template a name (at most %(count)s characters).") % {"count": MAX_NAME},
                               field_errors={"name": [_("Required.")]})
    if errors := partial_schema_errors(definition.configuration_schema, configuration):
        raise ValidationFailed(_("The default configuration is not valid: fix the fields marked."), field_errors=errors)
    if mappings and not mapping_codes(definition.code):
        raise ValidationFailed(_("%(name)s has no mappings.") % {"name": definition.name},
                               field_errors={"mappings": [_("Not used.")]})
    rows = []
    for row in mappings:
        if not isinstance(row, dict):
            raise ValidationFailed(_("Each default mapping is an object with map_group, source_code and target_code."),
                                   field_errors={"mappings": [_("Not an object.")]})
        group, code, target = mapping_checked(str(row.get("map_group", "")), str(row.get("source_code", "")),
                                              str(row.get("target_code", "")))
        if target:
            rows.append({"map_group": group, "source_code": code, "target_code": target,
                         "target_entity_type": "Account"})
    return name, rows


@transaction.atomic
def template_save(
    *, partner: Partner, definition: IntegrationDefinition, name: str, configuration: dict, mappings: list[dict],
    is_default: bool, template: PartnerIntegrationTemplate | None = None, by=None,
) -> PartnerIntegrationTemplate:
    """Create (`template` None) or update a partner's template; marking it default takes the mark
    from the definition's previous default in the same transaction."""
    name, rows = template_checked(definition=definition, name=name, configuration=configuration, mappings=mappings)
    if template is None:
        template = PartnerIntegrationTemplate(partner=partner, definition=definition)
    elif template.partner_id != partner.pk or template.definition_id != definition.pk:
        raise NotAllowed(_("A template keeps its partner and integration."), code="template_fixed")
    if is_default:
        PartnerIntegrationTemplate.objects.filter(partner=partner, definition=definition, is_default=True).exclude(
            pk=template.pk).update(is_default=False)
    template.name, template.default_configuration, template.default_mappings = name, configuration, rows
    template.is_default = is_default
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationFailed(_("%(partner)s already has a %(integration)s template named '%(name)s'.")
                               % {"partner": partner.name, "integration": definition.name, "name": name},
                               field_errors={"name": [_("Already used.")]}) from None
    logger.info("partner.template_saved", extra={"template_id": template.pk, "partner_id": partner.pk,
                                                 "by": getattr(by, "pk", None)})
    return template

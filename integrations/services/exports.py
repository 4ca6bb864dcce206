"""File exports: what the portal's "Download" button on an integration's page produces. Each
connector with the `file_export` capability makes its own file (`Connector.export_file`)."""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext as _

from integrations.connectors.base import FileExport
from integrations.connectors.registry import connector_class_for_definition
from integrations.models import MerchantIntegration
from qiiub.errors import NotAllowed


def exports_files(integration: MerchantIntegration) -> bool:
    return "file_export" in connector_class_for_definition(integration.definition_id).capabilities


def integration_export(*, integration: MerchantIntegration, start: date, end: date, by=None,
                       skip_unmapped: bool = False) -> FileExport:
    """The period's file; `skip_unmapped` leaves out what has no mapping instead of refusing."""
    if not exports_files(integration):
        raise NotAllowed(_("%(name)s has no file export.") % {"name": integration.definition.name}, code="no_export")
    return connector_class_for_definition(integration.definition_id).export_file(
        integration=integration, start=start, end=end, by=by, skip_unmapped=skip_unmapped)

"""What a terminal pulls (`GET /api/pos/v1/config`): its location's resolved settings, device
settings and active POS-level integrations, versioned by the location's config version."""

from __future__ import annotations

from django.db.models import Q

from devices.cascade import resolve
from devices.models import Terminal
from integrations.models import IntegrationType, MerchantIntegration, Status

CONFIG_FORMAT = 1  # bumped if the body's shape changes, so every terminal refetches once


def config_etag(terminal: Terminal) -> str:
    """The strong ETag of the terminal's config: no resolve work, only the row already loaded."""
    location = terminal.location
    return f'"cfg{CONFIG_FORMAT}-{location.pk}-{location.config_version}"'


def etag_matches(etag: str, if_none_match: str) -> bool:
    """Whether an If-None-Match header names this ETag (it may list several)."""
    return etag in (tag.strip() for tag in if_none_match.split(","))


def config_for(terminal: Terminal) -> dict:
    location = terminal.location
    merchant = location.merchant
    settings = resolve(location)
    integrations = (
        MerchantIntegration.objects.filter(
            merchant=merchant, status=Status.ACTIVE, definition__integration_type=IntegrationType.POS
        )
        .filter(Q(location__isnull=True) | Q(location=location))
        .select_related("definition")
        .order_by("definition__code")
    )
    return {
        "version": location.config_version,
        "terminal": {"id": terminal.pk, "name": terminal.name},
        "location": {"code": location.code, "name": location.name, "municipality": location.municipality},
        "merchant": {"name": merchant.name, "vertical": merchant.vertical, "language": merchant.language,
                     "time_zone": merchant.time_zone},
        "settings": {key: setting.as_config() for key, setting in settings.items()},
        # Configuration only: credentials never leave the vault through this API.
        "integrations": [
            {"code": integration.definition.code, "name": integration.definition.name,
             "configuration": integration.configuration}
            for integration in integrations
        ],
    }

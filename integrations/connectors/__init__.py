"""The connector registry: the only way code finds the connector for an integration code."""

from __future__ import annotations

from functools import cache

from integrations.connectors.base import Connector
from qiiub.errors import NotAllowed

_REGISTRY: dict[str, type[Connector]] = {}


def register(*codes: str):
    def decorator(cls: type[Connector]) -> type[Connector]:
        for code in codes:
            _REGISTRY[code] = cls
        return cls

    return decorator


def connector_class_for(code: str) -> type[Connector]:
    try:
        return _REGISTRY[code]
    except KeyError:
        raise NotAllowed(f"No connector is installed for '{code}'.", code="no_connector") from None


@cache
def definition_code(definition_id: int) -> str:
    """A definition's code, read once per process: codes are fixed once created (see the admin)."""
    from integrations.models import IntegrationDefinition

    return IntegrationDefinition.objects.values_list("code", flat=True).get(pk=definition_id)


def connector_class_for_definition(definition_id: int) -> type[Connector]:
    """The connector of an installation (by its definition id), without loading the definition."""
    return connector_class_for(definition_code(definition_id))


def connects_with_oauth(definition_id: int) -> bool:
    """Whether the installation's connector signs in by OAuth (connect / reconnect, no typed secrets)."""
    from integrations.connectors.oauth import OAuthConnector

    return issubclass(connector_class_for_definition(definition_id), OAuthConnector)


def registered_codes() -> set[str]:
    return set(_REGISTRY)


# Registration: one module per integration code (the demo one serves those without a vendor connector).
from integrations.connectors import (  # noqa: E402,F401
    acumatica,
    demo,
    quickbooks_desktop,
    quickbooks_online,
    shopify,
    suri,
    xero,
)

"""The connector registry: the only way code finds the connector of an integration code, and the one
factory of the connector acting for a merchant integration.

Connector modules register their classes with `@register(code, …)` when imported; `autodiscover`
imports them once, from the integrations app's `ready()`: every module of this package, and the
`connector` module of any installed app that has one (an app that owns its integration, such as
`webhooks`, keeps its connector beside it without this app importing it). A new connector is one
module and nothing else to wire.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from django.utils.module_loading import autodiscover_modules

from integrations.connectors.base import Connector
from qiiub.errors import NotAllowed
from qiiub.vault import read_secret

_REGISTRY: dict[str, type[Connector]] = {}


def register(*codes: str):
    def decorator(cls: type[Connector]) -> type[Connector]:
        for code in codes:
            _REGISTRY[code] = cls
        return cls

    return decorator


def autodiscover() -> None:
    """Import every module of the connectors package and every installed app's `connector` module:
    each registers the codes it serves."""
    package = importlib.import_module("integrations.connectors")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    autodiscover_modules("connector")


def connector_class_for(code: str) -> type[Connector]:
    try:
        return _REGISTRY[code]
    except KeyError:
        raise NotAllowed(f"No connector is installed for '{code}'.", code="no_connector") from None


def has_connector(code: str) -> bool:
    return code in _REGISTRY


@cache
def definition_code(definition_id: int) -> str:
    """A definition's code, read once per process: codes are fixed once created (see the admin)."""
    from integrations.models import IntegrationDefinition

    return IntegrationDefinition.objects.values_list("code", flat=True).get(pk=definition_id)


def connector_class_for_definition(definition_id: int) -> type[Connector]:
    """The connector of an installation (by its definition id), without loading the definition."""
    return connector_class_for(definition_code(definition_id))


def described_by(definition_id: int) -> type[Connector]:
    """What the pages show of an installation: its connector, or the bare contract (no capability,
    no panel) when none is installed for its code, as for a definition planned again after stores
    installed it. Acting for it still refuses (`connector_for`)."""
    code = definition_code(definition_id)
    return connector_class_for(code) if has_connector(code) else Connector


def connects_with_oauth(definition_id: int) -> bool:
    """Whether the installation's connector signs in by OAuth (connect / reconnect, no typed secrets)."""
    return described_by(definition_id).requires_oauth


def registered_codes() -> set[str]:
    return set(_REGISTRY)


def connector_for(integration) -> Connector:
    """The connector acting for one merchant integration, with its configuration and credentials."""
    credentials = read_secret(integration.credentials_vault_key) if integration.credentials_vault_key else {}
    connector_class = connector_class_for_definition(integration.definition_id)
    return connector_class(configuration=integration.configuration, credentials=credentials, integration=integration)

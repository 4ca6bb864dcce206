"""The connector registry: the only way code finds the connector for an integration code."""

from __future__ import annotations

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


def registered_codes() -> set[str]:
    return set(_REGISTRY)


from integrations.connectors import demo, shopify  # noqa: E402,F401  (registration; real ones after demo)

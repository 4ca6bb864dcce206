"""Rx30 and PioneerRx: pharmacy systems on the store's LAN, out of the cloud's reach. The store's
relay talks to them; the hub's connection test reads what the relay last reported, and passes only
if the relay runs the current settings and reached the pharmacy system with them."""

from __future__ import annotations

from django.utils import timezone

from integrations.connectors.base import Connector
from integrations.connectors.registry import register
from pharmacy.models import PharmacyStation
from pharmacy.relays import PHARMACY_SYSTEMS, relay_config_version, takeover_after
from qiiub.http import AuthExpired, VendorUnavailable

# What the relay's adapters report when the pharmacy system refused its credentials.
AUTH_ERRORS = {"auth_failed", "http_401", "http_403"}


class PharmacySystemConnector(Connector):
    capabilities = frozenset({"test_connection"})

    def test_connection(self) -> None:
        location = self.integration.location
        station = PharmacyStation.objects.select_related("active_relay").filter(location=location).first()
        relay = station.active_relay if station else None
        if relay is None or relay.revoked_at is not None:
            raise VendorUnavailable("relay_none", location=location.name)
        silent = timezone.now() - relay.last_heartbeat_at if relay.last_heartbeat_at else None
        if silent is None or silent > takeover_after():
            raise VendorUnavailable("relay_silent", relay=relay.name,
                                    minutes=int(silent.total_seconds() // 60) if silent else "?")
        if relay.config_version != relay_config_version(relay):
            raise VendorUnavailable("relay_settings_pending", relay=relay.name, seconds=30)
        if relay.pharmacy_reachable is None:
            raise VendorUnavailable("relay_not_tried", relay=relay.name)
        if not relay.pharmacy_reachable:
            if relay.last_error_code in AUTH_ERRORS:
                raise AuthExpired("relay_credentials_refused")
            raise VendorUnavailable("relay_pharmacy_unreachable", relay=relay.name, error=relay.last_error_code or "?")


register(*PHARMACY_SYSTEMS)(PharmacySystemConnector)

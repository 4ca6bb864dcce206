"""Rx30 and PioneerRx: pharmacy systems on the store's LAN, out of the cloud's reach. The store's
relay talks to them; the hub's connection test reads what the relay last reported, and passes only
if the relay runs the current settings and reached the pharmacy system with them."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

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
            raise VendorUnavailable(_("No relay runs at %(location)s yet: enroll one on the location's Pharmacy page, "
                                      "then test again.") % {"location": location.name})
        silent = timezone.now() - relay.last_heartbeat_at if relay.last_heartbeat_at else None
        if silent is None or silent > takeover_after():
            raise VendorUnavailable(_("The relay “%(relay)s” has not reported for %(minutes)s min: check that it runs "
                                      "and reaches the hub.") % {"relay": relay.name,
                                                                 "minutes": int(silent.total_seconds() // 60)
                                                                 if silent else "?"})
        if relay.config_version != relay_config_version(relay):
            raise VendorUnavailable(_("The relay “%(relay)s” has not picked up these settings yet: test again in "
                                      "%(seconds)s s.") % {"relay": relay.name, "seconds": 30})
        if relay.pharmacy_reachable is None:
            raise VendorUnavailable(_("The relay “%(relay)s” has not tried the pharmacy system yet: test again in a "
                                      "moment.") % {"relay": relay.name})
        if not relay.pharmacy_reachable:
            if relay.last_error_code in AUTH_ERRORS:
                raise AuthExpired(_("The pharmacy system refused the relay's credentials: check them and save "
                                    "again."))
            raise VendorUnavailable(_("The relay “%(relay)s” cannot reach the pharmacy system (%(error)s): check its "
                                      "host, port and that it runs.") % {"relay": relay.name,
                                                                         "error": relay.last_error_code or "?"})


register(*PHARMACY_SYSTEMS)(PharmacySystemConnector)

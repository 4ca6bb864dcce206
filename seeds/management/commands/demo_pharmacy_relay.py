"""The demo pharmacy's relay, for `make run`: `--code` revokes the store's earlier relays (a fresh
state directory each run) and prints a new one-time relay code; `--activate` waits until the
relay has reported with Rx30's settings and the connection test passes, then activates Rx30."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create
from integrations.models import Status
from integrations.services import configuring, transitions
from pharmacy.models import Relay
from pharmacy.relays import relay_revoke
from seeds.demo import ensure_demo_pharmacy, ensure_personas


class Command(BaseCommand):
    help = "Enroll (--code) or activate (--activate) the demo pharmacy's relay; development only."

    def add_arguments(self, parser):
        parser.add_argument("--code", action="store_true", help="print a new relay code, revoking earlier relays")
        parser.add_argument("--activate", action="store_true", help="test Rx30 through the relay, then activate it")
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the relay (--activate)")

    def handle(self, *args, code: bool, activate: bool, wait: float, **options):
        if settings.QIIUB_ENV == "production":
            raise CommandError("The demo data is for development only.")
        personas = ensure_personas()
        integration = ensure_demo_pharmacy(personas)
        if code:
            for relay in Relay.objects.filter(location=integration.location, revoked_at__isnull=True):
                relay_revoke(relay=relay)
            _, new_code = enrollment_code_create(location=integration.location, purpose=EnrollmentPurpose.RELAY)
            self.stdout.write(new_code)
        if activate and integration.status != Status.ACTIVE:
            deadline = time.monotonic() + wait
            while failure := configuring.merchant_integration_test_connection(integration=integration,
                                                                              by=personas.merchant_admin):
                if time.monotonic() > deadline:
                    raise CommandError(f"The demo relay did not report in {wait:.0f} s: {failure}")
                time.sleep(1)
            transitions.merchant_integration_activate(integration=integration, by=personas.merchant_admin)
            self.stdout.write("Rx30 at Santurce is active: its relay reaches the Rx30-mode simulator.")

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from seeds.demo import (
    DEMO_PASSWORD,
    ensure_demo_integrations,
    ensure_demo_pharmacy,
    ensure_demo_pos_settings,
    ensure_demo_store_data,
    ensure_personas,
)
from seeds.demo_payments import ensure_demo_payments


class Command(BaseCommand):
    help = "Create the demo personas and a few integrations in different states (idempotent)."

    def handle(self, *args, **options):
        if settings.QIIUB_ENV == "production":
            raise CommandError("The demo data is for development only.")
        personas = ensure_personas()
        ensure_demo_integrations(personas)
        ensure_demo_store_data(personas)
        ensure_demo_pos_settings(personas)
        ensure_demo_pharmacy(personas)
        ensure_demo_payments(personas)
        self.stdout.write(f"demo ready: {personas.partner.name}, {len(personas.pharmacies) + len(personas.retail)} merchants")
        self.stdout.write(f"logins (password '{DEMO_PASSWORD}'): sysadmin, pharmatech-admin, sanjuan-admin, colmado-admin")

from django.core.management.base import BaseCommand

from pharmacy.rotation import phi_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt the patient data of every merchant under the first of PHI_KEYS."

    def handle(self, *args, **options):
        self.stdout.write(f"re-encrypted patient data in {phi_reencrypt()} rows")

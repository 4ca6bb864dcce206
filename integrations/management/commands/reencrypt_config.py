from django.core.management.base import BaseCommand

from integrations.services.rotation import reencrypt_all


class Command(BaseCommand):
    help = ("Re-encrypt stored configuration, local-vault secrets and customers' contact details under the "
            "first key of each key list.")

    def handle(self, *args, **options):
        counts = reencrypt_all()
        self.stdout.write(f"re-encrypted {counts['configurations']} configurations, {counts['secrets']} vault "
                          f"secrets and {counts['customer contacts']} customer contacts")

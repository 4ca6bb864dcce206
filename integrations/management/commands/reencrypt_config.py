from django.core.management.base import BaseCommand

from integrations.services.rotation import reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt stored configuration and local-vault secrets under the first key of each key list."

    def handle(self, *args, **options):
        counts = reencrypt_all()
        self.stdout.write(
            f"re-encrypted {counts['configurations']} configurations and {counts['secrets']} vault secrets"
        )

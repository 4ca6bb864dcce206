from django.core.management.base import BaseCommand, CommandError

from compliance.scan import card_data_scan, report_lines, scan_settings_note
from qiiub.errors import ValidationFailed


class Command(BaseCommand):
    help = (
        "Find card numbers stored in any table of any schema (encrypted configuration decrypted in memory) "
        "and list each by table, row and field with at most its first 6 and last 4 digits. "
        "--redact masks each one in place, one audited transaction per table."
    )

    def add_arguments(self, parser):
        parser.add_argument("--redact", action="store_true", help="Mask every card number found, keeping first 6 and last 4.")
        parser.add_argument("--schema", action="append", dest="schemas", help="Scan only this schema (repeatable).")
        parser.add_argument("--operator", default="", help="Who runs it, for the audit (default: the OS user).")

    def handle(self, *args, redact, schemas, operator, **options):
        import getpass

        try:
            scan = card_data_scan(redact=redact, schemas=schemas,
                                  requested_by=operator or f"command ({getpass.getuser()})")
        except ValidationFailed as error:
            raise CommandError(error.message) from None
        for line in report_lines(scan):
            self.stdout.write(line)
        if note := scan_settings_note():
            self.stdout.write(note)
        masked = f", {scan.hits.filter(redacted=True).count()} masked" if redact else ""
        self.stdout.write(
            f"{scan.hit_count} card numbers found{masked} in {scan.tables_scanned} tables of "
            f"{scan.schemas_scanned} schemas."
        )

from django.core.management.base import BaseCommand

from qiiub.retention import retention_run


class Command(BaseCommand):
    help = ("Delete what is past its retention window (RETENTION_* settings) now, as beat does hourly: "
            "in short batches, within a time budget.")

    def add_arguments(self, parser):
        parser.add_argument("--budget", type=float, default=None,
                            help="Seconds to spend at most (default: RETENTION_RUN_BUDGET_S).")

    def handle(self, *args, budget=None, **options):
        report = retention_run(budget_s=budget)
        for table, count in sorted(report.deleted.items()):
            self.stdout.write(f"{table}: {count} deleted")
        for job in report.failed:
            self.stderr.write(f"{job}: a batch failed (see the log); the next run tries again")
        state = "done" if report.finished else "budget spent, more to delete: run again"
        self.stdout.write(f"{state} in {report.seconds:.1f} s")

from django.apps import AppConfig


class PaymentsStoreConfig(AppConfig):
    """A merchant's own payments data, in its schema: refunds made from the portal, the processor's
    settled transactions and payouts, and what reconciliation made of them."""

    name = "payments.store"
    label = "payments_store"

    def ready(self) -> None:
        from payments.store import models
        from qiiub import retention

        # The processors' records and what reconciliation made of them, kept with the merchant's books
        # (RETENTION_BOOKS_YEARS), each by its own date. Refunds are few: kept like the audits.
        books = retention.years_setting("RETENTION_BOOKS_YEARS")
        retention.register(*(
            retention.TableRule(name=name, table=model._meta.db_table, aged_by=aged_by, window=books, tenant=True)
            for name, model, aged_by in (
                ("settled_transactions", models.SettledTransaction, "transacted_at"),
                ("reconciliation_items", models.ReconciliationItem, "business_date"),
                ("reconciliation_days", models.ReconciliationDay, "business_date"),
                ("processor_payouts", models.ProcessorPayout, "arrival_date"),
            )))

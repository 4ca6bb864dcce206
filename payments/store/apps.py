from django.apps import AppConfig


class PaymentsStoreConfig(AppConfig):
    """A merchant's own payments data, in its schema: refunds made from the portal, the processor's
    settled transactions and payouts, and what reconciliation made of them."""

    name = "payments.store"
    label = "payments_store"

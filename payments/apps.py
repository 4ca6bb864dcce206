from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """Payments (DESIGN.md D17): the gateway port and its processors (Stripe, ATH Móvil, Dynamics
    Payments), refunds from the portal, and the nightly settlement reconciliation. Card data never
    enters: only processor references, auth codes, last 4, brand, entry method and amounts."""

    name = "payments"

    def ready(self) -> None:
        from payments.messages import PAYMENT_MESSAGES
        from qiiub.messages import catalog_extend

        catalog_extend(PAYMENT_MESSAGES)

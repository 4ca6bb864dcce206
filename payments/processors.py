"""A merchant's card processors: which are active, which one took a tender, and which one answers
for the tenders no processor is named on. One place for each, for refunds, reconciliation and pages."""

from __future__ import annotations

from django.db.models import QuerySet
from django_tenants.utils import schema_context

from integrations.connectors.registry import connector_class_for_definition
from integrations.models import Category, MerchantIntegration, Status
from merchants.models import Merchant
from merchants.store.models import Tender
from payments.gateways.port import PaymentGateway


def payment_integrations_all() -> QuerySet[MerchantIntegration]:
    return MerchantIntegration.objects.filter(definition__category=Category.PAYMENTS, status=Status.ACTIVE)


def payment_integrations(merchant: Merchant) -> QuerySet[MerchantIntegration]:
    """The merchant's active processors, oldest first."""
    return payment_integrations_all().filter(merchant=merchant).select_related("definition").order_by("pk")


def gateway_of(integration: MerchantIntegration) -> type[PaymentGateway] | None:
    gateway = connector_class_for_definition(integration.definition_id)
    return gateway if issubclass(gateway, PaymentGateway) else None


def takes_unreferenced(integration: MerchantIntegration) -> bool:
    """Card tenders with no processor reference (stand-in approvals) are the merchant's first card
    processor's to reconcile, never two processors' at once."""
    for other in payment_integrations(integration.merchant).filter(pk__lt=integration.pk):
        if (gateway := gateway_of(other)) is not None and gateway.takes_unreferenced:
            return False
    return True


def processor_for(merchant: Merchant, tender: Tender) -> MerchantIntegration | None:
    """The merchant's active processor integration that took this card tender, if any."""
    for integration in payment_integrations(merchant):
        if (gateway := gateway_of(integration)) is None:
            continue
        with schema_context(merchant.schema_name):
            if Tender.objects.filter(gateway.tenders_taken(), pk=tender.pk).exists():
                return integration
    return None

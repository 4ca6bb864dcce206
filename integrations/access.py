"""The scope check for one merchant integration: inside the user's merchant (`merchants.access`),
else 404 like everything out of scope."""

from __future__ import annotations

from django.http import Http404

from integrations.models import MerchantIntegration
from merchants.access import merchant_or_404


def integration_or_404(user, merchant_slug: str, integration_id: int) -> MerchantIntegration:
    """The integration, if it belongs to a merchant the user may see; 404 otherwise."""
    merchant = merchant_or_404(user, merchant_slug)
    integration = (
        MerchantIntegration.objects.filter(merchant=merchant, pk=integration_id)
        .select_related("definition", "location", "merchant")
        .first()
    )
    if integration is None:
        raise Http404("No such integration.")
    return integration


"""Read API for a merchant's integrations (session-authenticated portal users, scoped like the portal).

Never includes credentials or the vault key: only when they were set.
"""

from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from integrations import selectors
from integrations.access import integration_or_404
from integrations.models import MerchantIntegration
from merchants.access import merchant_or_404


class MerchantIntegrationSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="definition.code")
    name = serializers.CharField(source="definition.name")
    location = serializers.CharField(source="location.code", default=None)
    open_problems = serializers.SerializerMethodField()

    class Meta:
        model = MerchantIntegration
        fields = (
            "id", "code", "name", "location", "status", "paused_reason", "configuration", "credentials_set_at",
            "last_test_at", "last_test_ok", "last_sync_at", "consecutive_error_count", "open_problems", "needs_review",
        )
        read_only_fields = fields

    def get_open_problems(self, integration) -> list[dict]:
        """Each open problem: its kind, its cause in the caller's language and as code + parameters."""
        problems = getattr(integration, "open_problems", None)
        if problems is None:
            problems = integration.problems.filter(resolved_at__isnull=True)
        return [{"kind": problem.kind, "cause": problem.cause_text, "cause_code": problem.cause.get("code"),
                 "first_seen_at": problem.first_seen_at, "last_seen_at": problem.last_seen_at,
                 "occurrences": problem.occurrences} for problem in problems]


@api_view(["GET"])
def merchant_integrations(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    rows = selectors.integrations_for_merchant(merchant)
    return Response({"results": MerchantIntegrationSerializer(rows, many=True).data})


@api_view(["GET"])
def merchant_integration(request, merchant_slug: str, integration_id: int):
    return Response(MerchantIntegrationSerializer(integration_or_404(request.user, merchant_slug, integration_id)).data)

"""The public receiver URL for vendor webhooks: thin, answers in the vendor's terms."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from qiiub.errors import ApplicationError
from webhooks.inbound import inbound_receive

MAX_BODY_BYTES = 1_000_000  # Shopify order webhooks are far smaller; refuse anything absurd


@csrf_exempt  # authenticated by the vendor's signature, not a session
@require_POST
def receive(request, integration_id: int):
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        return JsonResponse({"error": "too_large"}, status=413)
    try:
        row, created = inbound_receive(integration_id=integration_id, headers=request.headers, body=request.body)
    except ApplicationError as error:
        return JsonResponse({"error": error.code, "message": error.message}, status=error.http_status)
    return JsonResponse({"ok": True, "duplicate": not created}, status=200)

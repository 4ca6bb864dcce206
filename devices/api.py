"""The POS sync API (`/api/pos/v1/`): the contract `possync.exe` on every terminal depends on.

Terminals authenticate with their own token (`Authorization: Bearer qtt_…`) and see only their
location. Views are thin: they parse, call one service and render; errors come out of the one
exception handler as {"error": {"code", "message", "fields"}}, and what Django answers itself under
the prefix (an unknown path, a 500) is turned into the same body by `PosApiErrorsMiddleware`. What
the OpenAPI document says beyond the views' signatures is in `devices/api_document.py`.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from devices import catalog, pos_config, terminals, uploads
from devices.api_document import (
    CATALOG_PAGE,
    CLIENT_UUID,
    ENROLLED,
    ETAG,
    RECORD_STORED,
    RETRY_AFTER,
    SINCE,
    UPLOAD_REQUEST,
    UPLOAD_RESULT,
    WWW_AUTHENTICATE,
    errors,
)
from devices.models import Terminal
from devices.pos_records import record_type_stored
from qiiub.auth import client_address
from qiiub.errors import NotFound
from qiiub.log_context import log_merchant_set
from qiiub.turnstile import turnstile_verify

APP_VERSION_HEADER = "X-POS-App-Version"


def bearer_token(request) -> str | None:
    scheme, _, token = get_authorization_header(request).decode(errors="replace").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class BearerTokenAuthentication(BaseAuthentication):
    """A device of a location that authenticates with its own token (a terminal, a store relay)."""

    holder = "terminal"  # what holds the token, in the messages
    realm = "qiiub-pos"

    def holder_for_token(self, request, token: str):
        raise NotImplementedError

    def authenticate(self, request):
        if not get_authorization_header(request):
            return None  # DRF answers 401 with WWW-Authenticate
        token = bearer_token(request)
        if token is None:
            raise AuthenticationFailed(f"Send the {self.holder} token as 'Authorization: Bearer <token>'.")
        holder = self.holder_for_token(request, token)
        if holder is None:
            raise AuthenticationFailed(f"This {self.holder} token is not valid or was revoked: enroll the "
                                       f"{self.holder} again with a new code.")
        log_merchant_set(holder.location.merchant.slug)
        return holder, holder

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.realm}"'


class TerminalTokenAuthentication(BearerTokenAuthentication):
    def holder_for_token(self, request, token: str):
        # An early answer (the config's, the ready list's) may have looked the token up already.
        return getattr(request._request, "pos_terminal", None) or terminals.terminal_for_token(token)


class TerminalTokenScheme(OpenApiAuthenticationExtension):
    target_class = TerminalTokenAuthentication
    name = "terminalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "The token a terminal received at enrollment."}


class IsTerminal(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, Terminal)


class PosApiView(APIView):
    """What every POS API view shares: JSON in and out, and a method the view does not have answered
    405 first, before the token is checked or an enrollment attempt counted (a wrong method is not an
    attempt, and a terminal must not read a 401 or 429 as "this method exists")."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            self.http_method_not_allowed(request)
        super().initial(request, *args, **kwargs)


class TerminalView(PosApiView):
    authentication_classes = [TerminalTokenAuthentication]
    permission_classes = [IsTerminal]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        terminals.terminal_seen(terminal=request.user, app_version=request.headers.get(APP_VERSION_HEADER, ""))


class EnrollmentView(PosApiView):
    """Where a device trades a one-time code for its token: no token yet, and attempts limited per
    client address (POS_ENROLL_RATE)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "pos-enroll"

    def get_throttles(self):
        # Only an attempt counts: an OPTIONS (as a 405 already) never uses up a client's tries.
        return super().get_throttles() if self.request.method == "POST" else []


class EnrollView(EnrollmentView):
    @extend_schema(
        summary="Trade a one-time enrollment code for the terminal's token",
        request={"application/json": terminals.ENROLL_REQUEST},
        parameters=[RETRY_AFTER],
        responses={201: OpenApiResponse(ENROLLED),
                   **errors(400, 415, 422, 429, 500, 503,
                            e400="Not valid: a field to fix, or a code that is mistyped, already used or expired (one "
                                 "answer for all three), or, when the hub has Turnstile on, a `turnstile_token` "
                                 "missing (`turnstile_missing`) or refused (`turnstile_refused`).",
                            e503="The Turnstile token could not be verified just now (`turnstile_unavailable`): "
                                 "nothing was used up, try again with a new token.")},
    )
    def post(self, request):
        fields = terminals.enrollment_request_checked(request.data)
        turnstile_verify(fields.pop("turnstile_token", None), remote_ip=client_address(request), action="enroll")
        terminal, token = terminals.terminal_enroll(**fields)
        return Response(
            {"token": token, "terminal": {"id": terminal.pk, "name": terminal.name, "location": terminal.location.code}},
            status=status.HTTP_201_CREATED,
        )


class ConfigView(TerminalView):
    @extend_schema(
        summary="The location's resolved configuration",
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False,
                                     description="The ETag of the config the terminal has: 304 if unchanged."),
                    ETAG, WWW_AUTHENTICATE],
        responses={200: OpenApiResponse({"type": "object"}, description="Settings (value, source level, locked), "
                                        "device settings and the active POS-level integrations."),
                   304: OpenApiResponse(description="Unchanged since the ETag sent."), **errors(401, 500)},
    )
    def get(self, request):
        etag = pos_config.config_etag(request.user)
        if pos_config.etag_matches(etag, request.headers.get("If-None-Match", "")):
            return HttpResponse(status=304, headers={"ETag": etag})
        return Response(pos_config.config_for(request.user), headers={"ETag": etag, "Cache-Control": "no-cache"})


def config_not_modified(request) -> HttpResponse | None:
    """The 304 for a terminal whose config is unchanged, with the token lookup as its only work;
    None for anything else (a changed config, a bad token), which ConfigView then answers.
    Called first thing by `NotModifiedConfigMiddleware`: most pulls end here."""
    etags_sent = request.headers.get("If-None-Match")
    if request.method != "GET" or not etags_sent or not (token := bearer_token(request)):
        return None
    terminal = request.pos_terminal = terminals.terminal_for_token(token)
    if terminal is None:
        return None
    etag = pos_config.config_etag(terminal)
    if not pos_config.etag_matches(etag, etags_sent):
        return None
    terminals.terminal_seen(terminal=terminal, app_version=request.headers.get(APP_VERSION_HEADER, ""))
    return HttpResponse(status=304, headers={"ETag": etag})


class UploadsView(TerminalView):
    @extend_schema(
        summary="Upload a batch of sales, shift closes, Rx pickups, device statuses, stock changes and customers",
        description=f"At most {uploads.MAX_RECORDS} records and {uploads.MAX_BODY_BYTES // (1024 * 1024)} MB per "
                    "upload. Each record carries the terminal's client UUID: a repeat is reported `duplicate` and "
                    "changes nothing. Invalid records are reported one by one; the valid ones are stored. A stock "
                    "change naming a SKU not in the catalog, or a location other than the terminal's, is reported "
                    "`rejected` with its reason. A customer's client UUID is the customer's own id: send it again "
                    "with a later `updated_at` to update the customer (an older or the same version is a "
                    "`duplicate`). A card number anywhere refuses the whole batch (422) and stores nothing.",
        request={"application/json": UPLOAD_REQUEST},
        parameters=[WWW_AUTHENTICATE],
        responses={200: OpenApiResponse(UPLOAD_RESULT),
                   **errors(400, 401, 413, 415, 422, 500, e413="More records or bytes than an upload may carry: "
                                                              "split it into smaller ones. Nothing was stored.")},
    )
    def post(self, request):
        too_large = f"An upload may be at most {uploads.MAX_BODY_BYTES // (1024 * 1024)} MB: split it into smaller ones."
        if int(request.META.get("CONTENT_LENGTH") or 0) > uploads.MAX_BODY_BYTES:
            raise uploads.BatchTooLarge(too_large)
        try:
            body = request.data
        except RequestDataTooBig:  # Django read past DATA_UPLOAD_MAX_MEMORY_SIZE (a body sent without its length)
            raise uploads.BatchTooLarge(too_large) from None
        results = uploads.upload_ingest(terminal=request.user, body=body,
                                        source=request.META.get("REMOTE_ADDR", "")[:60])
        counts = {state: sum(result.status == state for result in results) for state in ("stored", "duplicate", "rejected")}
        return Response({"stored": counts["stored"], "duplicates": counts["duplicate"], "rejected": counts["rejected"],
                         "results": [result.as_dict() for result in results]})


class RecordView(TerminalView):
    @extend_schema(
        summary="Whether a record the terminal uploaded is stored",
        parameters=[CLIENT_UUID, WWW_AUTHENTICATE],
        responses={200: OpenApiResponse(RECORD_STORED),
                   **errors(401, 404, 500, e404="Not stored at this terminal's location (or not a UUID).")},
    )
    def get(self, request, client_uuid):
        location = request.user.location
        record_type = record_type_stored(merchant=location.merchant, location=location, client_uuid=str(client_uuid))
        if record_type is None:
            raise NotFound("No record with this id was stored at this terminal's location.")
        return Response({"client_uuid": str(client_uuid), "type": record_type, "status": "stored"})


class CatalogView(TerminalView):
    @extend_schema(
        summary="Products changed since a cursor, with their on-hand quantity at the terminal's location",
        parameters=[SINCE, WWW_AUTHENTICATE],
        responses={200: OpenApiResponse(CATALOG_PAGE), **errors(400, 401, 500, e400="The cursor is not valid.")},
    )
    def get(self, request):
        page = catalog.changes_since(location=request.user.location, cursor=request.query_params.get("since", ""))
        return Response(page)

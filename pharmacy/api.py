"""The pharmacy's part of the POS API (`/api/pos/v1/`): registers read the ready-for-pickup list
and look up an Rx barcode with their terminal token; the store relay enrolls, heart-beats, pushes
prescriptions and takes the outbox with its own token (docs/pharmacy-relay.md). Thin views: each
parses, calls one service and renders; errors are the POS API's {"error": …} body."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from devices import terminals
from devices.api import (
    APP_VERSION_HEADER,
    BearerTokenAuthentication,
    EnrollmentView,
    PosApiView,
    TerminalView,
    bearer_token,
)
from devices.api_document import ETAG, RETRY_AFTER, WWW_AUTHENTICATE, errors
from devices.pos_config import etag_matches
from pharmacy import outbox, prescriptions, relays
from pharmacy.audit import Actor, request_source
from pharmacy.models import Relay
from qiiub.errors import NotFound

IF_NONE_MATCH = OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False,
                                 description="The ETag the client has: 304 if unchanged.")
PRESCRIPTION = {"type": "object", "properties": {
    "rx_number": {"type": "string"}, "fill_number": {"type": "integer"}, "status": {"type": "string"},
    "amount_due": {"type": "string"}, "taxable": {"type": "boolean"}, "patient_name": {"type": "string"},
    "flags": {"type": "array", "items": {"type": "object", "properties": {
        "type": {"type": "string", "enum": ["hipaa", "safety_cap", "counseling"]}, "required": {"type": "boolean"},
        "message": {"type": "string"}}}},
    "ready_at": {"type": ["string", "null"]}}}
READY_LIST = {"type": "object", "properties": {"prescriptions": {"type": "array", "items": PRESCRIPTION}}}


class ReadyListView(TerminalView):
    @extend_schema(
        summary="Prescriptions ready for pickup at the terminal's location",
        description="Minimum necessary: what the register needs to sell and hand over a fill (amount due, tax flag, "
                    "required flags, the patient's name to verify), no drug, NDC or address. Pull it with "
                    "`If-None-Match`: an unchanged list is a 304 with no patient data. Every list sent is logged.",
        parameters=[IF_NONE_MATCH, ETAG, WWW_AUTHENTICATE],
        responses={200: OpenApiResponse(READY_LIST), 304: OpenApiResponse(description="Unchanged since the ETag."),
                   **errors(401, 500)},
    )
    def get(self, request):
        location = request.user.location
        etag = prescriptions.ready_etag(location, prescriptions.ready_version(location))
        if etag_matches(etag, request.headers.get("If-None-Match", "")):
            return HttpResponse(status=304, headers={"ETag": etag})
        ready = prescriptions.ready_list(location=location, actor=Actor.terminal(request.user, request_source(request)))
        return Response({"prescriptions": ready}, headers={"ETag": etag, "Cache-Control": "no-store"})


BARCODE_EXAMPLE = "6012345-1"
LOOKUP_REQUEST = {"type": "object", "additionalProperties": False, "required": ["barcode"], "properties": {
    "barcode": {"type": "string", "pattern": prescriptions.BARCODE_PATTERN, "examples": [BARCODE_EXAMPLE],
                "description": "`<rx>` (every ready fill) or `<rx>-<fill>` (`/` or `*` also separate the fill)."}}}


def ready_list_not_modified(request) -> HttpResponse | None:
    """The 304 for a register whose ready list is unchanged, with the token lookup and the version
    as its only work; None for anything else, which ReadyListView answers. Called first thing by
    `NotModifiedReadyListMiddleware`: most of a store's pulls end here, with no patient data."""
    etags_sent = request.headers.get("If-None-Match")
    if request.method != "GET" or not etags_sent or not (token := bearer_token(request)):
        return None
    terminal = request.pos_terminal = terminals.terminal_for_token(token)
    if terminal is None:
        return None
    etag = prescriptions.ready_etag(terminal.location, prescriptions.ready_version(terminal.location))
    if not etag_matches(etag, request.headers.get("If-None-Match", "")):
        return None
    terminals.terminal_seen(terminal=terminal, app_version=request.headers.get(APP_VERSION_HEADER, ""))
    return HttpResponse(status=304, headers={"ETag": etag})


class PrescriptionLookupView(TerminalView):
    @extend_schema(
        summary="The ready fills an Rx label barcode names",
        description="A POST, so the Rx number travels in the body and never in an address that access logs and "
                    "proxies keep.",
        request={"application/json": LOOKUP_REQUEST}, parameters=[WWW_AUTHENTICATE],
        responses={200: OpenApiResponse(READY_LIST),
                   **errors(400, 401, 404, 415, 422, 500, e400="Not an Rx barcode.",
                            e404="No fill it names is ready for pickup at this terminal's location.")},
    )
    def post(self, request):
        found = prescriptions.prescriptions_for_barcode(
            location=request.user.location, barcode=prescriptions.barcode_checked(request.data),
            actor=Actor.terminal(request.user, request_source(request)))
        if not found:
            raise NotFound(_("No prescription ready for pickup here matches this barcode: check the label, or ask the "
                             "pharmacy whether it is ready."), code="prescription_not_ready")
        return Response({"prescriptions": found}, headers={"Cache-Control": "no-store"})


class RelayTokenAuthentication(BearerTokenAuthentication):
    holder = "relay"
    realm = "qiiub-relay"

    def holder_for_token(self, request, token: str):
        return relays.relay_for_token(token)


class RelayTokenScheme(OpenApiAuthenticationExtension):
    target_class = RelayTokenAuthentication
    name = "relayToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "The token a store relay received at enrollment."}


class IsRelay(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, Relay)


class RelayView(PosApiView):
    authentication_classes = [RelayTokenAuthentication]
    permission_classes = [IsRelay]

    def actor(self) -> Actor:
        return Actor.relay(self.request.user, request_source(self.request))


class RelayEnrollView(EnrollmentView):
    @extend_schema(
        summary="Trade a one-time relay code for the relay's token",
        request={"application/json": relays.ENROLL_REQUEST}, parameters=[RETRY_AFTER],
        responses={201: OpenApiResponse({"type": "object"}), **errors(400, 415, 422, 429, 500)},
    )
    def post(self, request):
        body = relays.request_checked("enroll", request.data, "enrollment request")
        relay, token = relays.relay_enroll(**body)
        return Response({"token": token, "relay": {"id": relay.pk, "name": relay.name,
                                                   "location": relay.location.code}},
                        status=status.HTTP_201_CREATED)


class RelayConfigView(RelayView):
    @extend_schema(
        summary="The relay's pharmacy system, its sealed credentials and its timing",
        parameters=[IF_NONE_MATCH, ETAG, WWW_AUTHENTICATE],
        responses={200: OpenApiResponse({"type": "object"}), 304: OpenApiResponse(description="Unchanged."),
                   **errors(401, 500)},
    )
    def get(self, request):
        etag = f'"{relays.relay_config_version(request.user)}"'
        if etag_matches(etag, request.headers.get("If-None-Match", "")):
            return HttpResponse(status=304, headers={"ETag": etag})
        config = relays.relay_config(request.user)
        return Response(config, headers={"ETag": f'"{config["version"]}"', "Cache-Control": "no-store"})


class RelayHeartbeatView(RelayView):
    @extend_schema(
        summary="Report the relay's health and take or renew the location's lease",
        request={"application/json": relays.HEARTBEAT_REQUEST},
        responses={200: OpenApiResponse({"type": "object"}),
                   **errors(400, 401, 409, 415, 422, 500, e409="Another relay is active at this location (named).")},
    )
    def post(self, request):
        report = relays.request_checked("heartbeat", request.data, "heartbeat")
        lease = relays.relay_heartbeat(relay=request.user, report=report, source=request_source(request))
        return Response({"active": True, "lease_expires_at": lease.expires_at.isoformat()})


class RelayPrescriptionsView(RelayView):
    @extend_schema(
        summary="Push changes of the ready-for-pickup list (each with its own id: a resend changes nothing)",
        request={"application/json": prescriptions.PUSH_REQUEST},
        responses={200: OpenApiResponse({"type": "object"}), **errors(400, 401, 409, 415, 422, 500)},
    )
    def post(self, request):
        changes, complete = prescriptions.push_checked(request.data)
        relays.relay_ensure_active(request.user)
        result = prescriptions.prescriptions_push(location=request.user.location, changes=changes, complete=complete,
                                                  actor=self.actor())
        return Response({"applied": result.applied, "unchanged": result.unchanged})


class RelayOutboxView(RelayView):
    @extend_schema(
        summary="Pickups, Rx sales and returns waiting for the pharmacy system, oldest first",
        parameters=[OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": outbox.MAX_FETCH},
                                     OpenApiParameter.QUERY, required=False,
                                     description=f"At most this many (default and most: {outbox.MAX_FETCH}).")],
        responses={200: OpenApiResponse({"type": "object"}), **errors(400, 401, 409, 500)},
    )
    def get(self, request):
        limit = outbox.limit_checked(request.query_params.getlist("limit"))
        relays.relay_ensure_active(request.user)
        messages = outbox.outbox_fetch(location=request.user.location, actor=self.actor(), limit=limit)
        return Response({"messages": messages}, headers={"Cache-Control": "no-store"})


class RelayAcksView(RelayView):
    @extend_schema(
        summary="What the pharmacy system did with outbox messages",
        request={"application/json": outbox.ACKS_REQUEST},
        responses={200: OpenApiResponse({"type": "object"}), **errors(400, 401, 415, 500)},
    )
    def post(self, request):
        acks = outbox.acks_checked(request.data)
        return Response({"acknowledged": outbox.outbox_acknowledge(location=request.user.location, acks=acks)})

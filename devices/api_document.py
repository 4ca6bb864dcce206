"""What the POS API's OpenAPI document says besides the views' own summaries: the error contract
(one JSON envelope for every error, and which statuses each operation can answer), the request
and response bodies, the record schemas as named components and the response headers.

Kept apart from `devices/api.py` so that the views and `devices/openapi.py` can both import it.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from devices import catalog, uploads
from devices.records import RECORD_TYPES, UUID

DESCRIPTION = """Config down, results up: the contract of possync.exe on every terminal.

**Errors.** Every answer under `/api/pos/v1/` is JSON, errors included:
`{"error": {"code": "…", "message": "…", "fields": {"path": ["…"]}}}`. `code` never changes with the
language, `message` says what to do, `fields` (when present) maps a field path to what is wrong with it.
Each operation lists the statuses it can answer. Besides those, any path:
- answers **404** (`not_found`) when the API has no such path, or a path parameter is malformed;
- answers **405** (`method_not_allowed`) with an `Allow` header for a method the operation does not list,
  before the token is checked or an enrollment attempt is counted;
- answers **406** (`not_acceptable`) when the `Accept` header excludes `application/json`."""

ERROR_SCHEMA = {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "Stable, in any language: e.g. validation_failed, not_found."},
            "message": {"type": "string", "description": "What is wrong and what to do about it."},
            "fields": {"type": "object", "description": "Field path → what is wrong with it.",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
    }},
}
ERROR = {"$ref": "#/components/schemas/Error"}

_ERROR_DESCRIPTIONS = {
    400: "The request is not valid: the message says what to fix, `fields` which field.",
    401: "Missing, wrong or revoked token.",
    404: "Not found.",
    409: "Refused in the current state: the message says why.",
    413: "Too large: split the upload into smaller ones.",
    415: "The body is not JSON: send it with `Content-Type: application/json`.",
    422: "Card data (a card number, CVV, PIN block or track data) was sent: nothing was stored.",
    429: "Too many enrollment attempts from this address: wait the `Retry-After` seconds.",
    500: "An error on our side: try again later.",
    503: "A service the hub depends on did not answer: try again later.",
}


def errors(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation; `descriptions` ("e404": "…") say what a
    status means for this operation in particular."""
    return {status: OpenApiResponse(ERROR, description=descriptions.get(f"e{status}", _ERROR_DESCRIPTIONS[status]))
            for status in statuses}


WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", {"type": "string"}, OpenApiParameter.HEADER, response=[401],
    description="How to authenticate: `Bearer realm=\"qiiub-pos\"`.")
RETRY_AFTER = OpenApiParameter(
    "Retry-After", {"type": "string", "pattern": "^[0-9]+$"}, OpenApiParameter.HEADER, response=[429],
    description="Seconds to wait before the next attempt.")
ETAG = OpenApiParameter(
    "ETag", {"type": "string"}, OpenApiParameter.HEADER, response=[200, 304], required=True,
    description="The config's version: send it back as `If-None-Match`.")


def _component_name(record_code: str) -> str:
    return "".join(part.title() for part in record_code.split("_")) + "Record"  # shift_close → ShiftCloseRecord


COMPONENTS = {
    "Error": ERROR_SCHEMA,
    **{_component_name(code): record.schema for code, record in RECORD_TYPES.items()},
}

# A record that is not one of the types, or breaks its type's schema, does not fail the upload: it is
# reported `rejected` with its errors while the valid ones are stored. So an item may be anything;
# the types say what will be stored.
UPLOAD_REQUEST = {"type": "object", "required": ["records"], "additionalProperties": False, "properties": {
    "records": {"type": "array", "maxItems": uploads.MAX_RECORDS, "items": {"anyOf": [
        *({"$ref": f"#/components/schemas/{_component_name(code)}"} for code in RECORD_TYPES),
        {"title": "Anything else", "description": "Not refused: reported `rejected`, with its errors."},
    ]}},
}}
UPLOAD_RESULT = {"type": "object", "properties": {
    "stored": {"type": "integer"}, "duplicates": {"type": "integer"}, "rejected": {"type": "integer"},
    "results": {"type": "array", "items": {"type": "object", "properties": {
        "index": {"type": "integer"}, "client_uuid": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["stored", "duplicate", "rejected"]},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}}}}

ENROLLED = {"type": "object", "properties": {
    "token": {"type": "string", "description": "Shown once: keep it in the terminal's protected store."},
    "terminal": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "location": {"type": "string"}}}}}

CLIENT_UUID_EXAMPLE = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
CLIENT_UUID = OpenApiParameter(
    "client_uuid", {**{key: value for key, value in UUID.items() if key != "description"},
                    "examples": [CLIENT_UUID_EXAMPLE]},
    OpenApiParameter.PATH, description="The record's client UUID, in any case.")
RECORD_STORED = {"type": "object", "properties": {
    "client_uuid": {"type": "string"}, "type": {"type": "string"}, "status": {"const": "stored"}}}

SINCE = OpenApiParameter(
    "since", {"type": "string", "pattern": catalog.CURSOR_PATTERN}, required=False,
    description="The `next` cursor of the previous page; omit it (or send it empty) to start from the beginning.")
CATALOG_PRODUCT = {"type": "object", "required": ["sku", "name", "barcode", "price", "tax_category", "on_hand"],
                   "properties": {
                       "sku": {"type": "string"}, "name": {"type": "string"}, "barcode": {"type": "string"},
                       "price": {"type": "string"}, "tax_category": {"type": "string"},
                       "on_hand": {"type": ["integer", "null"],
                                   "description": "On hand at the terminal's location; null where its stock is not "
                                                  "tracked. A change of it brings the product back into the feed."}}}
CATALOG_PAGE = {"type": "object", "properties": {
    "products": {"type": "array", "items": CATALOG_PRODUCT},
    "next": {"type": "string", "pattern": catalog.CURSOR_PATTERN},
    "more": {"type": "boolean"}}}

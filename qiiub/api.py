"""The one DRF exception handler: every API error comes out as {"error": {code, message, fields}}."""

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from qiiub.errors import ApplicationError


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The one shape of every API error: {"error": {"code", "message", "fields"?}}."""
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.extra.get("field_errors")), status=exc.http_status)
    response = drf_exception_handler(exc, context)  # DRF's own (401, 404, parse errors, throttling…)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = {str(key): [str(item) for item in (value if isinstance(value, list) else [value])]
                      for key, value in detail.items()}
            response.data = error_body(exc.default_code, "The request is not valid: fix the fields marked.", fields)
        else:
            message = " ".join(str(item) for item in detail) if isinstance(detail, list) else str(detail)
            response.data = error_body(getattr(detail, "code", None) or exc.default_code, message)
    return response

"""The one DRF exception handler: application errors become {"error": {code, message, fields}}."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from qiiub.errors import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"error": {"code": exc.code, "message": exc.message}}
        if field_errors := exc.extra.get("field_errors"):
            body["error"]["fields"] = field_errors
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)

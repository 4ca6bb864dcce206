"""Which request, merchant and task a log line belongs to, so a request can be followed into the
Celery tasks it queued (and the tasks they queued).

The values live in context variables: the request-id middleware sets them for a request, Celery's
signals carry them in a task message's headers and set them around the task in the worker, and
`LogContextFilter` puts them on every log record, whatever the logger and the format.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar, Token

from qiiub.card_guard import text_contains_card_number

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's or client's id is kept when it is short and plain: anything else (a log-injection
# attempt, a card number pasted in) is replaced by one of ours.
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Names of the task message headers that carry the context.
_REQUEST_ID_MESSAGE_HEADER = "qiiub_request_id"
_MERCHANT_MESSAGE_HEADER = "qiiub_merchant"

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
merchant_var: ContextVar[str] = ContextVar("merchant", default="")
task_id_var: ContextVar[str] = ContextVar("task_id", default="")
task_name_var: ContextVar[str] = ContextVar("task_name", default="")

_CONTEXT = {"request_id": request_id_var, "merchant": merchant_var, "task_id": task_id_var, "task": task_name_var}


def request_id_from(header_value: str | None) -> str:
    """The request id sent by the client or proxy when it is well formed, else a new one."""
    if (header_value and _WELL_FORMED_REQUEST_ID.fullmatch(header_value)
            and not text_contains_card_number(header_value)):
        return header_value
    return uuid.uuid4().hex


def log_merchant_set(slug: str) -> None:
    """Name the merchant the current request or task works for, in its log lines."""
    merchant_var.set(slug)


def log_context() -> dict[str, str]:
    """The current request id, merchant, task id and task name (those that are set)."""
    return {name: value for name, var in _CONTEXT.items() if (value := var.get())}


class LogContextFilter(logging.Filter):
    """Puts the current request id, merchant, task id and task name on each record (empty when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class RequestIdMiddleware:
    """Gives each request its id (the client's X-Request-ID when well formed), answers it in the same
    header, and names the merchant of a merchant's pages and API in its log lines. First in
    MIDDLEWARE, so the lines of every other middleware carry it too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        tokens = (request_id_var.set(request_id), merchant_var.set(""))
        try:
            response = self.get_response(request)
        finally:
            merchant_var.reset(tokens[1])
            request_id_var.reset(tokens[0])
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if slug := view_kwargs.get("merchant_slug"):
            merchant_var.set(slug)


def task_message_context_add(headers: dict | None = None, **_) -> None:
    """Celery's before_task_publish: the current request id and merchant go with the task message."""
    if headers is None:
        return
    if request_id := request_id_var.get():
        headers.setdefault(_REQUEST_ID_MESSAGE_HEADER, request_id)
    if merchant := merchant_var.get():
        headers.setdefault(_MERCHANT_MESSAGE_HEADER, merchant)


# Per running task: the tokens that put the context back as it was before the task (an eager task
# runs inside the request that sent it, and keeps its request id).
_tokens_by_task: dict[str, tuple[Token, ...]] = {}


def task_context_enter(task_id: str | None = None, task=None, **_) -> None:
    """Celery's task_prerun: the task's id and name, and the request id and merchant its message carried."""
    if task is None or task_id is None:
        return
    request = task.request
    request_id = getattr(request, _REQUEST_ID_MESSAGE_HEADER, None) or request_id_var.get()
    merchant = getattr(request, _MERCHANT_MESSAGE_HEADER, None) or merchant_var.get()
    _tokens_by_task[task_id] = (task_id_var.set(task_id), task_name_var.set(task.name),
                                request_id_var.set(request_id), merchant_var.set(merchant))


def task_context_leave(task_id: str | None = None, **_) -> None:
    """Celery's task_postrun: the context as it was before the task."""
    for token in reversed(_tokens_by_task.pop(task_id, ())):
        token.var.reset(token)

"""Request latency by view, from the outermost middleware.

Labels stay bounded: the view is the resolved URL's name (never the path, which carries merchant
slugs and ids), the method one of HTTP's own, the status its class. Under gunicorn each worker
process keeps its own values; with `PROMETHEUS_MULTIPROC_DIR` set prometheus_client writes them to
files there, and the scrape sums them (`portal.metrics`)."""

from __future__ import annotations

import time

from prometheus_client import Histogram

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_VIEW = "unmatched"  # no URL matched (a 404, or an answer before URL resolution)

REQUEST_DURATION = Histogram(
    "qiiub_http_request_duration_seconds",
    "Time to answer a request, by the view's URL name, method and status class.",
    ["view", "method", "status_class"],
)


def view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED_VIEW


class RequestLatencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_DURATION.labels(
            view=view_label(request),
            method=request.method if request.method in KNOWN_METHODS else "other",
            status_class=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response

"""A portal action refused by a product rule: the refusal is shown on the page the action came from.

Views raise nothing special and catch nothing: a service's `ApplicationError` (an invalid transition,
a test that must pass first, card data…) becomes a message in the user's language and a redirect.
A form that must come back with its fields marked catches `ValidationFailed` itself, before this.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse

from qiiub.errors import ApplicationError


def refusal_shown_at(page: Callable[..., str]):
    """Decorate a view: an ApplicationError it raises is shown at `page(request, **the view's kwargs)`."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except ApplicationError as error:
                messages.error(request, error.message)
                return redirect(page(request, *args, **kwargs))

        return wrapped

    return decorator


def post_or_back_to(page: Callable[..., str]):
    """Decorate an action view that takes POST: a GET (a reload or Back onto the action's address,
    after htmx pushed it) goes back to `page` instead of a blank 405."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "GET":
                return redirect(page(request, *args, **kwargs))
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def back_to(url_name: str, *kwarg_names: str) -> Callable[..., str]:
    """The page `url_name` addressed with some of a view's arguments, as `post_or_back_to` takes it."""

    def page(request, *args, **kwargs) -> str:
        return reverse(url_name, kwargs={name: kwargs[name] for name in kwarg_names})

    return page


def integration_page(request, merchant_slug: str, integration_id: int, **_) -> str:
    return reverse("portal:integration", args=[merchant_slug, integration_id])


# The usual target: an action on an integration's page answers on that page.
refusal_on_integration_page = refusal_shown_at(integration_page)
post_on_integration_page = post_or_back_to(integration_page)
